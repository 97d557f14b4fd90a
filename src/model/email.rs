//! Email addresses, checked once where they enter.

use std::fmt;

use crate::validation::Invalid;

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
}
