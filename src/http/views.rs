//! Response bodies shared by several routes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::login::TokenPair;
use crate::users::{Role, Status, User};

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
    /// Any JSON object, at most 16 KiB.
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub deactivated_at: Option<DateTime<Utc>>,
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
        }
    }
}

/// A new access token and refresh token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!(crate::http::examples::token_pair()))]
pub struct TokenPairView {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque token for `POST /auth/refresh` (single use: it rotates).
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
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
