//! Response bodies shared by several routes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::login::TokenPair;
use crate::model::{AuditRecord, Role, Status, User};
use crate::users::sessions::SessionInfo;

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!(crate::http::examples::user()))]
pub struct UserView {
    pub id: Uuid,
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    pub email_verified: bool,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub role: Role,
    pub status: Status,
    /// Where the avatar is served; null without one.
    pub avatar_url: Option<String>,
    /// Any JSON object, at most 16 KiB, nested at most 32 levels of objects and arrays.
    #[schema(schema_with = crate::http::openapi::preferences_schema)]
    pub preferences: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The identifier another system gave the user, kept from an import; null without one.
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: Option<String>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            avatar_url: user
                .has_avatar
                .then(|| format!("/api/v1/users/{}/avatar", user.id)),
            id: user.id,
            email: user.email,
            email_verified: user.email_verified,
            name: user.name,
            role: user.role,
            status: user.status,
            preferences: user.preferences,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_login_at: user.last_login_at,
            deactivated_at: user.deactivated_at,
            external_id: user.external_id,
        }
    }
}

/// A new access token and refresh token.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::http::examples::token_pair()))]
pub struct TokenPairView {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(value_type = i64)]
    pub expires_in: u64,
    /// Opaque token for `POST /auth/refresh` (single use: it rotates).
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    #[schema(value_type = i64)]
    pub refresh_expires_in: u64,
}

impl std::fmt::Debug for TokenPairView {
    // The tokens are the caller's credentials: never in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPairView")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl From<TokenPair> for TokenPairView {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// This page's number, from 1.
    pub page: i64,
    pub per_page: i64,
    /// Matching users in all.
    pub total: i64,
    pub total_pages: i64,
}

/// An open session of the caller.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d", "created_at": "2026-11-26T12:00:00Z",
    "last_used_at": "2026-11-26T12:30:00Z", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "current": true}))]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed.
    pub last_used_at: DateTime<Utc>,
    /// A plain address.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session of the token making this request.
    pub current: bool,
}

impl From<SessionInfo> for SessionView {
    fn from(session: SessionInfo) -> Self {
        Self {
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            ip: session.ip.map(|ip| ip.to_string()),
            user_agent: session.user_agent,
            current: session.current,
        }
    }
}

/// The caller's open sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d", "occurred_at": "2026-11-26T12:00:00Z",
    "action": "auth.login", "outcome": "success", "actor_id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6e",
    "target_id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6e", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0",
    "request_id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6f", "details": {"session_id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c70"}}))]
pub struct AuditEventView {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// e.g. `auth.login`.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// Never a password, a token or a plaintext email address.
    #[schema(schema_with = details_schema)]
    pub details: serde_json::Value,
}

/// `details` differ by action: an open object.
fn details_schema() -> utoipa::openapi::schema::Object {
    crate::http::openapi::open_object(
        utoipa::openapi::schema::Type::Object,
        "Never a password, a token or a plaintext email address.",
    )
}

impl From<AuditRecord> for AuditEventView {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            occurred_at: record.occurred_at,
            action: record.action.as_str().to_owned(),
            outcome: record.outcome.as_str().to_owned(),
            actor_id: record.actor_id,
            target_id: record.target_id,
            ip: record.ip.map(|ip| ip.to_string()),
            user_agent: record.user_agent,
            request_id: record.request_id,
            details: record.details,
        }
    }
}

/// One page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    pub total_pages: i64,
}

impl From<crate::audit::AuditPage> for AuditPage {
    fn from(page: crate::audit::AuditPage) -> Self {
        Self {
            total_pages: page.filter.paging.total_pages(page.total),
            page: page.filter.paging.page,
            per_page: page.filter.paging.per_page,
            total: page.total,
            items: page.items.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<crate::users::admin::UserPage> for UserPage {
    fn from(page: crate::users::admin::UserPage) -> Self {
        Self {
            total_pages: page.filter.paging.total_pages(page.total),
            page: page.filter.paging.page,
            per_page: page.filter.paging.per_page,
            total: page.total,
            items: page.items.into_iter().map(Into::into).collect(),
        }
    }
}
