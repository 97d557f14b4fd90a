//! The account as the domain sees it: [`User`] with its [`Role`] and [`Status`], and the
//! caller of an authenticated request.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::validation::Invalid;

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
    /// The identifier another system gave the user (kept from an import).
    pub external_id: Option<String>,
}

crate::text_enum! {
    /// Role of an account, from most to least powerful.
    pub enum Role {
        Admin = "admin",
        Manager = "manager",
        User = "user",
    }
}

crate::text_enum! {
    /// Life-cycle state of an account.
    pub enum Status {
        PendingVerification = "pending_verification",
        Active = "active",
        Deactivated = "deactivated",
    }
}

/// Longest identifier another system may give a user, in characters.
pub const EXTERNAL_ID_MAX: usize = 200;

/// Checks the identifier another system gave a user: 1-200 characters, no control
/// characters (it is compared exactly, so white space is kept as given).
pub fn check_external_id(id: &str) -> Result<(), Invalid> {
    let length = id.chars().count();
    if length == 0 {
        return Err(Invalid::new("too_short", "must not be empty"));
    }
    if length > EXTERNAL_ID_MAX {
        return Err(Invalid::new("too_long", "must be at most 200 characters"));
    }
    if id.chars().any(char::is_control) {
        return Err(Invalid::new(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// The caller of an authenticated request: its user as it is now, and its session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub session_id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_statuses_round_trip_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(*status));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::NAMES, ["admin", "manager", "user"]);
    }

    #[test]
    fn external_ids_are_one_to_two_hundred_printable_characters() {
        assert!(check_external_id("django:42").is_ok());
        assert!(
            check_external_id(&"é".repeat(200)).is_ok(),
            "characters, not bytes"
        );
        let code = |id: &str| check_external_id(id).err().map(|i| i.code);
        assert_eq!(code(""), Some("too_short"));
        assert_eq!(code(&"x".repeat(201)), Some("too_long"));
        assert_eq!(code("a\u{0}b"), Some("invalid_characters"));
    }
}
