//! SQL of sessions and their rotating refresh tokens.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::crypto::FieldCipher;
use crate::request::RequestMeta;
use crate::users::User;
use crate::users::repo::{USER_COLUMNS, UserRow};

/// Why a session ended (stored in `sessions.end_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    LogoutAll,
    RefreshReused,
    Revoked,
    PasswordChanged,
    PasswordReset,
    Deactivated,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::RefreshReused => "refresh_reused",
            Self::Revoked => "revoked",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::Deactivated => "deactivated",
        }
    }
}

/// The user behind an access token, with the state of its session.
pub struct SessionUser {
    pub user: User,
    pub session_open: bool,
}

#[derive(FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    session_open: bool,
}

/// A presented refresh token, locked for the rest of the transaction.
#[derive(Debug, FromRow)]
pub struct RefreshState {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub rotated_at: Option<DateTime<Utc>>,
    /// Rotated less than the grace period ago.
    pub within_grace: bool,
    pub token_expired: bool,
    pub session_open: bool,
    pub user_status: String,
    pub user_role: String,
}

/// Opens a session.
pub async fn create<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    user_id: Uuid,
    ttl_seconds: i64,
    meta: &RequestMeta,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, expires_at, ip, user_agent)
         VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5)",
    )
    .bind(id)
    .bind(user_id)
    .bind(ttl_seconds as f64)
    .bind(meta.ip.map(ipnet::IpNet::from))
    .bind(meta.user_agent.as_deref())
    .execute(executor)
    .await?;
    Ok(())
}

/// Stores a new refresh token of a session (its hash only); it expires with the session.
pub async fn add_refresh_token<'e>(
    executor: impl PgExecutor<'e>,
    session_id: Uuid,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
         SELECT $1, id, expires_at FROM sessions WHERE id = $2",
    )
    .bind(token_hash)
    .bind(session_id)
    .execute(executor)
    .await?;
    Ok(())
}

/// Finds a refresh token and locks its row, so that concurrent refreshes of one token are
/// decided one after the other; `grace_seconds` decides `within_grace`.
pub async fn lock_refresh_token<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    grace_seconds: u64,
) -> Result<Option<RefreshState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id AS session_id, s.user_id, rt.rotated_at,
                coalesce(rt.rotated_at > clock_timestamp() - make_interval(secs => $2), false) AS within_grace,
                rt.expires_at <= now() AS token_expired,
                (s.ended_at IS NULL AND s.expires_at > now()) AS session_open,
                u.status AS user_status, u.role AS user_role
         FROM refresh_tokens rt
         JOIN sessions s ON s.id = rt.session_id
         JOIN users u ON u.id = s.user_id
         WHERE rt.token_hash = $1
         FOR UPDATE OF rt",
    )
    .bind(token_hash)
    .bind(grace_seconds as f64)
    .fetch_optional(executor)
    .await
}

/// Marks a refresh token as rotated (replaced by a newer one).
pub async fn mark_rotated<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1")
        .bind(token_hash)
        .execute(executor)
        .await?;
    Ok(())
}

/// Records that a session was just used (at refresh), from where, and extends it: a session
/// lives `ttl_seconds` past its last refresh.
pub async fn touch<'e>(
    executor: impl PgExecutor<'e>,
    session_id: Uuid,
    ttl_seconds: i64,
    meta: &RequestMeta,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET last_used_at = now(), expires_at = now() + make_interval(secs => $4),
                ip = coalesce($2, ip), user_agent = coalesce($3, user_agent)
         WHERE id = $1",
    )
    .bind(session_id)
    .bind(meta.ip.map(ipnet::IpNet::from))
    .bind(meta.user_agent.as_deref())
    .bind(ttl_seconds as f64)
    .execute(executor)
    .await?;
    Ok(())
}

/// Ends one session if it is still open; returns whether it was.
pub async fn end<'e>(
    executor: impl PgExecutor<'e>,
    session_id: Uuid,
    reason: EndReason,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE sessions SET ended_at = now(), end_reason = $2 WHERE id = $1 AND ended_at IS NULL",
    )
    .bind(session_id)
    .bind(reason.as_str())
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Ends every open session of a user, except `keep` if given; returns how many ended.
pub async fn end_all<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    reason: EndReason,
    keep: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE sessions SET ended_at = now(), end_reason = $2
         WHERE user_id = $1 AND ended_at IS NULL AND ($3::uuid IS NULL OR id <> $3)",
    )
    .bind(user_id)
    .bind(reason.as_str())
    .bind(keep)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// The session of an access token, and its user, in one query: the hot path of every
/// authenticated request.
pub async fn session_user<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Option<SessionUser>, sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {USER_COLUMNS}, (s.ended_at IS NULL AND s.expires_at > now()) AS session_open
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = $1 AND s.user_id = $2"
        )
    });
    let row: Option<SessionUserRow> = sqlx::query_as(SQL.as_str())
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(executor)
        .await?;
    row.map(|r| {
        Ok(SessionUser {
            user: r.user.into_user(cipher)?,
            session_open: r.session_open,
        })
    })
    .transpose()
}

/// An open session of a user.
#[derive(Debug, FromRow)]
pub struct OpenSession {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ip: Option<ipnet::IpNet>,
    pub user_agent: Option<String>,
}

/// The open sessions of a user, newest first.
pub async fn list_open<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<Vec<OpenSession>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, created_at, last_used_at, ip, user_agent FROM sessions
         WHERE user_id = $1 AND ended_at IS NULL AND expires_at > now()
         ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(executor)
    .await
}

/// Ends one open session of this user; false if it is not theirs or not open.
pub async fn end_own<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    session_id: Uuid,
    reason: EndReason,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE sessions SET ended_at = now(), end_reason = $3
         WHERE id = $1 AND user_id = $2 AND ended_at IS NULL AND expires_at > now()",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(reason.as_str())
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}
