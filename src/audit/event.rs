//! Audit events and the closed list of their actions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::request::RequestMeta;

/// Everything the contract audits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Action {
    #[serde(rename = "user.registered")]
    UserRegistered,
    #[serde(rename = "user.email_verified")]
    UserEmailVerified,
    #[serde(rename = "auth.login")]
    AuthLogin,
    #[serde(rename = "auth.refresh_reused")]
    AuthRefreshReused,
    #[serde(rename = "auth.logout")]
    AuthLogout,
    #[serde(rename = "auth.logout_all")]
    AuthLogoutAll,
    #[serde(rename = "auth.password_reset_requested")]
    AuthPasswordResetRequested,
    #[serde(rename = "auth.password_reset")]
    AuthPasswordReset,
    #[serde(rename = "auth.rate_limited")]
    AuthRateLimited,
    #[serde(rename = "user.password_changed")]
    UserPasswordChanged,
    #[serde(rename = "user.email_change_requested")]
    UserEmailChangeRequested,
    #[serde(rename = "user.email_changed")]
    UserEmailChanged,
    #[serde(rename = "user.profile_updated")]
    UserProfileUpdated,
    #[serde(rename = "user.avatar_updated")]
    UserAvatarUpdated,
    #[serde(rename = "user.avatar_removed")]
    UserAvatarRemoved,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.role_changed")]
    UserRoleChanged,
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    #[serde(rename = "user.restored")]
    UserRestored,
    #[serde(rename = "user.session_revoked")]
    UserSessionRevoked,
    #[serde(rename = "user.sessions_revoked")]
    UserSessionsRevoked,
}

impl Action {
    /// Every action, for checks that must cover them all.
    pub const ALL: [Action; 21] = [
        Self::UserRegistered,
        Self::UserEmailVerified,
        Self::AuthLogin,
        Self::AuthRefreshReused,
        Self::AuthLogout,
        Self::AuthLogoutAll,
        Self::AuthPasswordResetRequested,
        Self::AuthPasswordReset,
        Self::AuthRateLimited,
        Self::UserPasswordChanged,
        Self::UserEmailChangeRequested,
        Self::UserEmailChanged,
        Self::UserProfileUpdated,
        Self::UserAvatarUpdated,
        Self::UserAvatarRemoved,
        Self::UserCreated,
        Self::UserRoleChanged,
        Self::UserDeactivated,
        Self::UserRestored,
        Self::UserSessionRevoked,
        Self::UserSessionsRevoked,
    ];

    /// The stored name, e.g. `auth.login`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::UserEmailVerified => "user.email_verified",
            Self::AuthLogin => "auth.login",
            Self::AuthRefreshReused => "auth.refresh_reused",
            Self::AuthLogout => "auth.logout",
            Self::AuthLogoutAll => "auth.logout_all",
            Self::AuthPasswordResetRequested => "auth.password_reset_requested",
            Self::AuthPasswordReset => "auth.password_reset",
            Self::AuthRateLimited => "auth.rate_limited",
            Self::UserPasswordChanged => "user.password_changed",
            Self::UserEmailChangeRequested => "user.email_change_requested",
            Self::UserEmailChanged => "user.email_changed",
            Self::UserProfileUpdated => "user.profile_updated",
            Self::UserAvatarUpdated => "user.avatar_updated",
            Self::UserAvatarRemoved => "user.avatar_removed",
            Self::UserCreated => "user.created",
            Self::UserRoleChanged => "user.role_changed",
            Self::UserDeactivated => "user.deactivated",
            Self::UserRestored => "user.restored",
            Self::UserSessionRevoked => "user.session_revoked",
            Self::UserSessionsRevoked => "user.sessions_revoked",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

/// Whether the audited attempt succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// An event about to be recorded. `details` must never hold a password, a token or a
/// plaintext email address.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub action: Action,
    pub outcome: Outcome,
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub meta: &'a RequestMeta,
    pub details: serde_json::Value,
}

impl<'a> Event<'a> {
    /// A successful action by `actor` on `target`.
    pub fn success(
        action: Action,
        actor_id: Option<Uuid>,
        target_id: Option<Uuid>,
        meta: &'a RequestMeta,
    ) -> Self {
        Self {
            action,
            outcome: Outcome::Success,
            actor_id,
            target_id,
            meta,
            details: serde_json::json!({}),
        }
    }

    /// A refused or failed attempt.
    pub fn failure(
        action: Action,
        actor_id: Option<Uuid>,
        target_id: Option<Uuid>,
        meta: &'a RequestMeta,
    ) -> Self {
        Self {
            outcome: Outcome::Failure,
            ..Self::success(action, actor_id, target_id, meta)
        }
    }

    /// Adds details (no secrets, no plaintext email addresses).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_match_serde() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            let json = serde_json::to_value(action).unwrap_or_default();
            assert_eq!(json, action.as_str());
        }
    }
}
