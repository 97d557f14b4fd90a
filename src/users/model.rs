//! The user as the domain sees it, and the typed inputs that are checked once at the edge:
//! [`Email`], [`Name`], [`Role`], [`Status`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub role: Role,
    pub status: Status,
    pub has_avatar: bool,
    pub preferences: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// Role of an account, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    User,
}

impl Role {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::User => "user",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "admin" => Some(Self::Admin),
            "manager" => Some(Self::Manager),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

/// Life-cycle state of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    PendingVerification,
    Active,
    Deactivated,
}

impl Status {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingVerification => "pending_verification",
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending_verification" => Some(Self::PendingVerification),
            "active" => Some(Self::Active),
            "deactivated" => Some(Self::Deactivated),
            _ => None,
        }
    }
}

/// Why an input was refused: a stable code and a message, for field errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

/// Problems with named fields or parameters.
pub type FieldProblems = Vec<(&'static str, Invalid)>;

impl Invalid {
    /// A problem with its stable code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A syntactically valid email address, as the person typed it (trimmed).
///
/// Addresses are ASCII only: internationalised addresses are rare in practice and their
/// look-alike characters are a classic account-confusion trick, so they are refused.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Longest accepted address (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Checks the shape of an address: `local@domain`, a local part of 1-64 printable
    /// characters without spaces, and a domain of dot-separated labels with a TLD.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(Invalid::new("required", "an email address is required"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(Invalid::new("too_long", "must be at most 254 characters"));
        }
        let invalid = || Invalid::new("invalid_email", "must be a valid email address");
        if !value.is_ascii() {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = (1..=64).contains(&local.len())
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = domain.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if !local_ok || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form compared and indexed: lower-case (addresses compare case-insensitively).
    pub fn normalised(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// The local part, lower-case.
    pub fn local_part(&self) -> String {
        self.0
            .rsplit_once('@')
            .map(|(local, _)| local.to_ascii_lowercase())
            .unwrap_or_default()
    }
}

impl fmt::Debug for Email {
    // Addresses are personal data: keep them out of debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email([redacted])")
    }
}

/// A display name: 1-100 characters after trimming, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Trims and checks a name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        let length = value.chars().count();
        if length == 0 {
            return Err(Invalid::new("required", "must not be empty"));
        }
        if length > 100 {
            return Err(Invalid::new("too_long", "must be at most 100 characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(Invalid::new(
                "invalid_characters",
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Largest accepted preferences document, serialised.
pub const MAX_PREFERENCES_BYTES: usize = 16 * 1024;

/// Deepest accepted nesting of preferences. Settings need a few levels; a bound well
/// below common parsers' limits (serde_json's is 128) keeps every response that embeds
/// them (a user inside a page of users) readable by any client.
pub const MAX_PREFERENCES_DEPTH: usize = 32;

/// Checks that preferences are a JSON object of at most 16 KiB, nested at most
/// [`MAX_PREFERENCES_DEPTH`] levels.
pub fn check_preferences(value: &serde_json::Value) -> Result<(), Invalid> {
    if !value.is_object() {
        return Err(Invalid::new("invalid_type", "must be a JSON object"));
    }
    if depth(value) > MAX_PREFERENCES_DEPTH {
        return Err(Invalid::new(
            "too_deep",
            format!("must not nest more than {MAX_PREFERENCES_DEPTH} levels"),
        ));
    }
    if serde_json::to_vec(value).map_or(usize::MAX, |v| v.len()) > MAX_PREFERENCES_BYTES {
        return Err(Invalid::new("too_large", "must be at most 16 KiB"));
    }
    // PostgreSQL's jsonb cannot hold U+0000; refuse it here rather than fail at the insert.
    if has_nul(value) {
        return Err(Invalid::new(
            "invalid_characters",
            "must not contain U+0000",
        ));
    }
    Ok(())
}

/// Levels of objects and arrays: 0 for a scalar, 1 for `{"theme": "dark"}`. (The JSON
/// parser bounds the recursion.)
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_kept_as_typed_and_compared_in_lower_case() {
        let email = Email::parse("  Ada.Lovelace+gh@Example.COM ").ok();
        assert_eq!(
            email.as_ref().map(Email::as_str),
            Some("Ada.Lovelace+gh@Example.COM")
        );
        assert_eq!(
            email.as_ref().map(Email::normalised).as_deref(),
            Some("ada.lovelace+gh@example.com")
        );
        assert_eq!(
            email.map(|e| e.local_part()).as_deref(),
            Some("ada.lovelace+gh")
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            ".a@b.com",
            "a.@b.com",
            "a@-b.com",
            "a@b.c0m",
            "аda@example.com",
            "a\0@b.com",
            "a@b.com\r\nBcc: x@y.com",
            &long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Email::parse(&long).err().map(|e| e.code), Some("too_long"));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("  Ada  ").ok().map(|n| n.as_str().to_owned()),
            Some("Ada".into())
        );
        assert_eq!(Name::parse("   ").err().map(|e| e.code), Some("required"));
        assert!(
            Name::parse(&"é".repeat(100)).is_ok(),
            "100 characters, not bytes"
        );
        assert_eq!(
            Name::parse(&"x".repeat(101)).err().map(|e| e.code),
            Some("too_long")
        );
        assert!(Name::parse("Ada\nBcc: x").is_err());
    }

    #[test]
    fn preferences_are_small_objects() {
        assert!(check_preferences(&serde_json::json!({"theme": "dark"})).is_ok());
        assert!(check_preferences(&serde_json::json!([1, 2])).is_err());
        let big = serde_json::json!({"x": "y".repeat(MAX_PREFERENCES_BYTES)});
        assert_eq!(
            check_preferences(&big).err().map(|e| e.code),
            Some("too_large")
        );
        let nested = |levels: usize| {
            let text = format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()
        };
        assert!(check_preferences(&nested(MAX_PREFERENCES_DEPTH)).is_ok());
        assert_eq!(
            check_preferences(&nested(MAX_PREFERENCES_DEPTH + 1))
                .err()
                .map(|e| e.code),
            Some("too_deep")
        );
        assert_eq!(
            check_preferences(&serde_json::json!({"a": [[[[]]]]})).ok(),
            Some(())
        );
    }

    #[test]
    fn roles_and_statuses_round_trip_their_names() {
        for role in [Role::Admin, Role::Manager, Role::User] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for status in [
            Status::PendingVerification,
            Status::Active,
            Status::Deactivated,
        ] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
