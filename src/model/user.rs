//! The account as the domain sees it: [`User`] with its [`Role`] and [`Status`], and the
//! caller of an authenticated request.

use chrono::{DateTime, Utc};
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
}
