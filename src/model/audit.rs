//! Audit events and the closed list of their actions.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::request::RequestMeta;

crate::text_enum! {
    /// Everything the contract audits.
    pub enum Action {
        UserRegistered = "user.registered",
        UserEmailVerified = "user.email_verified",
        AuthLogin = "auth.login",
        AuthRefreshReused = "auth.refresh_reused",
        AuthLogout = "auth.logout",
        AuthLogoutAll = "auth.logout_all",
        AuthPasswordResetRequested = "auth.password_reset_requested",
        AuthPasswordReset = "auth.password_reset",
        AuthRateLimited = "auth.rate_limited",
        UserPasswordChanged = "user.password_changed",
        UserEmailChangeRequested = "user.email_change_requested",
        UserEmailChanged = "user.email_changed",
        UserProfileUpdated = "user.profile_updated",
        UserAvatarUpdated = "user.avatar_updated",
        UserAvatarRemoved = "user.avatar_removed",
        UserCreated = "user.created",
        UserRoleChanged = "user.role_changed",
        UserDeactivated = "user.deactivated",
        UserRestored = "user.restored",
        UserSessionRevoked = "user.session_revoked",
        UserSessionsRevoked = "user.sessions_revoked",
        UserReauthFailed = "user.reauth_failed",
        UserEmailChangeReverted = "user.email_change_reverted",
        UserMfaEnabled = "user.mfa_enabled",
        UserMfaDisabled = "user.mfa_disabled",
        UserRecoveryCodesRegenerated = "user.recovery_codes_regenerated",
        UserPasskeyAdded = "user.passkey_added",
        UserPasskeyRenamed = "user.passkey_renamed",
        UserPasskeyRemoved = "user.passkey_removed",
        AuthMfaFailed = "auth.mfa_failed",
        AuthPasswordRehashed = "auth.password_rehashed",
        UserImported = "user.imported",
        UsersImportFinished = "users.import_finished",
        UsersExported = "users.exported",
    }
}

crate::text_enum! {
    /// Whether the audited attempt succeeded.
    pub enum Outcome {
        Success = "success",
        Failure = "failure",
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

/// A recorded event.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub action: Action,
    pub outcome: Outcome,
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_match_serde() {
        for &action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            let json = serde_json::to_value(action).unwrap_or_default();
            assert_eq!(json, action.as_str());
        }
    }
}
