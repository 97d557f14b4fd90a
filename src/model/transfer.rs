//! The import and export format: one user per NDJSON line,
//! `{"email", "name", "role"?, "status"?, "email_verified"?, "password_hash"?,
//! "preferences"?, "created_at"?, "external_id"?, "send_invitation"?}`.
//!
//! A line is read field by field so that every problem of a line is reported at once, with
//! the field it concerns: unknown and repeated fields included (a JSON object with a key
//! twice is accepted by most parsers, the last one winning; here it fails the line).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::preferences::check_preferences;
use super::{Email, Name, Role, Status, User, check_external_id};
use crate::password_formats;
use crate::validation::Invalid;

/// Longest accepted line, in bytes (a user with 16 KiB of preferences fits with room).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The fields a line may have.
pub const FIELDS: &[&str] = &[
    "email",
    "name",
    "role",
    "status",
    "email_verified",
    "password_hash",
    "preferences",
    "created_at",
    "external_id",
    "send_invitation",
];

/// A line that passed every check.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub email: Email,
    pub name: Name,
    pub role: Role,
    pub status: Status,
    pub email_verified: bool,
    /// As given: verified at login in its own format, then replaced.
    pub password_hash: Option<String>,
    pub preferences: Value,
    pub created_at: Option<DateTime<Utc>>,
    pub external_id: Option<String>,
    pub send_invitation: bool,
}

/// What is wrong with one line: each problem with its field (`line` for the line as a
/// whole), and the address when the line had one as a string, to help find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblems {
    pub email: Option<String>,
    pub problems: Vec<(String, Invalid)>,
}

impl LineProblems {
    /// A problem of the line as a whole.
    pub fn whole_line(invalid: Invalid) -> Self {
        Self {
            email: None,
            problems: vec![("line".to_owned(), invalid)],
        }
    }
}

/// The keys of a JSON object in their order, repeated ones included.
struct Fields(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// Checks one line (without its newline). White space around it is allowed; the caller
/// skips blank lines.
pub fn parse_line(line: &[u8]) -> Result<ImportedUser, LineProblems> {
    let Fields(fields) = serde_json::from_slice(line).map_err(|e| {
        LineProblems::whole_line(Invalid::new(
            "invalid_json",
            format!(
                "must be one JSON object: {}",
                if e.is_data() {
                    "not an object".to_owned()
                } else {
                    e.to_string()
                }
            ),
        ))
    })?;
    let mut problems: Vec<(String, Invalid)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let given =
        |name: &str| -> Option<&Value> { fields.iter().find(|(k, _)| k == name).map(|(_, v)| v) };
    for (key, _) in &fields {
        if !FIELDS.contains(&key.as_str()) {
            problems.push((
                key.clone(),
                Invalid::new("unknown_field", "is not a field of an imported user"),
            ));
        } else if seen.contains(&key.as_str()) {
            problems.push((
                key.clone(),
                Invalid::new("duplicate_field", "is given more than once"),
            ));
        } else {
            seen.push(key);
        }
    }
    let mut note = |field: &str, invalid: Invalid| problems.push((field.to_owned(), invalid));
    // These have a default, but no meaning for null (the others take null as absent).
    for field in ["role", "status", "preferences"] {
        if matches!(given(field), Some(Value::Null)) {
            note(
                field,
                wrong_type(if field == "preferences" {
                    "a JSON object"
                } else {
                    "a string"
                }),
            );
        }
    }

    let email_text = given("email").and_then(Value::as_str).map(str::to_owned);
    let email = match given("email") {
        None | Some(Value::Null) => {
            note("email", required());
            None
        }
        Some(Value::String(raw)) => Email::parse(raw).map_err(|i| note("email", i)).ok(),
        Some(_) => {
            note("email", wrong_type("a string"));
            None
        }
    };
    let name = match given("name") {
        None | Some(Value::Null) => {
            note("name", required());
            None
        }
        Some(Value::String(raw)) => Name::parse(raw).map_err(|i| note("name", i)).ok(),
        Some(_) => {
            note("name", wrong_type("a string"));
            None
        }
    };
    let role = match optional_str(given("role"), "role", &mut note) {
        Some(raw) => Role::parse(raw).or_else(|| {
            note("role", one_of(Role::NAMES));
            None
        }),
        None => Some(Role::User),
    };
    let email_verified = optional_bool(given("email_verified"), "email_verified", &mut note);
    let email_verified = email_verified.unwrap_or(true);
    let status = match optional_str(given("status"), "status", &mut note) {
        Some(raw) => Status::parse(raw).or_else(|| {
            note("status", one_of(Status::NAMES));
            None
        }),
        None if email_verified => Some(Status::Active),
        None => Some(Status::PendingVerification),
    };
    let password_hash =
        optional_str(given("password_hash"), "password_hash", &mut note).and_then(|hash| {
            match password_formats::parse(hash) {
                Ok(_) => Some(hash.to_owned()),
                Err(refused) => {
                    note(
                        "password_hash",
                        Invalid::new(refused.code(), refused.to_string()),
                    );
                    None
                }
            }
        });
    let preferences = match given("preferences") {
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(value) => match check_preferences(value) {
            Ok(()) => value.clone(),
            Err(invalid) => {
                note("preferences", invalid);
                Value::Null
            }
        },
    };
    let created_at = optional_str(given("created_at"), "created_at", &mut note).and_then(|raw| {
        match DateTime::parse_from_rfc3339(raw) {
            Ok(instant) if instant > Utc::now() => {
                note(
                    "created_at",
                    Invalid::new("in_future", "must not be in the future"),
                );
                None
            }
            Ok(instant) => Some(instant.with_timezone(&Utc)),
            Err(_) => {
                note(
                    "created_at",
                    Invalid::new("invalid_format", "must be an RFC 3339 date and time"),
                );
                None
            }
        }
    });
    let external_id =
        optional_str(given("external_id"), "external_id", &mut note).and_then(|raw| {
            check_external_id(raw)
                .map_err(|i| note("external_id", i))
                .ok()
                .map(|()| raw.to_owned())
        });
    let send_invitation =
        optional_bool(given("send_invitation"), "send_invitation", &mut note).unwrap_or(false);

    match (email, name, role, status) {
        (Some(email), Some(name), Some(role), Some(status)) if problems.is_empty() => {
            Ok(ImportedUser {
                email,
                name,
                role,
                status,
                email_verified,
                password_hash,
                preferences,
                created_at,
                external_id,
                send_invitation,
            })
        }
        _ => Err(LineProblems {
            email: email_text,
            problems,
        }),
    }
}

fn required() -> Invalid {
    Invalid::new("required", "is required")
}

fn wrong_type(expected: &str) -> Invalid {
    Invalid::new("invalid_type", format!("must be {expected}"))
}

fn one_of(names: &[&str]) -> Invalid {
    Invalid::new(
        "invalid_value",
        format!("must be one of {}", names.join(", ")),
    )
}

/// An optional string field: absent or null is `None`; another type is a problem.
fn optional_str<'v>(
    value: Option<&'v Value>,
    field: &str,
    note: &mut impl FnMut(&str, Invalid),
) -> Option<&'v str> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            note(field, wrong_type("a string"));
            None
        }
    }
}

/// An optional boolean field: absent or null is `None`; another type is a problem.
fn optional_bool(
    value: Option<&Value>,
    field: &str,
    note: &mut impl FnMut(&str, Invalid),
) -> Option<bool> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Bool(flag)) => Some(*flag),
        Some(_) => {
            note(field, wrong_type("true or false"));
            None
        }
    }
}

/// One exported user: the import format, so that an export imports as it is.
#[derive(Debug, Serialize)]
pub struct ExportedUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub status: Status,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<&'a str>,
    pub preferences: &'a Value,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
}

impl<'a> ExportedUser<'a> {
    /// The line of `user`, with its stored hash when it is to be included.
    pub fn new(user: &'a User, password_hash: Option<&'a str>) -> Self {
        Self {
            email: &user.email,
            name: &user.name,
            role: user.role,
            status: user.status,
            email_verified: user.email_verified,
            password_hash,
            preferences: &user.preferences,
            created_at: user.created_at,
            external_id: user.external_id.as_deref(),
        }
    }
}
