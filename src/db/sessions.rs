//! SQL of sessions and their rotating refresh tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::users::UserRow;
use crate::crypto::FieldCipher;
use crate::model::{Role, Status, User};
use crate::request::RequestMeta;

crate::text_enum! {
    /// Why a session ended (stored in `sessions.end_reason`).
    pub enum EndReason {
        Logout = "logout",
        LogoutAll = "logout_all",
        RefreshReused = "refresh_reused",
        Revoked = "revoked",
        PasswordChanged = "password_changed",
        PasswordReset = "password_reset",
        Deactivated = "deactivated",
        EmailChanged = "email_changed",
        ReauthFailed = "reauth_failed",
        EmailReverted = "email_reverted",
        /// The user turned two-step sign-in on: every other session ends.
        MfaEnabled = "mfa_enabled",
        /// An admin removed the user's second step.
        MfaReset = "mfa_reset",
    }
}

/// The user behind an access token, with the state of its session.
pub struct SessionUser {
    pub user: User,
    pub session_open: bool,
}

/// A presented refresh token, locked for the rest of the transaction.
#[derive(Debug)]
pub struct RefreshState {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub rotated_at: Option<DateTime<Utc>>,
    /// Rotated less than the grace period ago.
    pub within_grace: bool,
    pub token_expired: bool,
    pub session_open: bool,
    pub user_status: Status,
    pub user_role: Role,
    /// How the session was signed in (the access tokens' `amr`).
    pub amr: Vec<String>,
}

/// A session that a single-statement sign-in (the second step, a passkey) opens, with its
/// first refresh token (its hash only).
#[derive(Debug)]
pub struct NewSession<'a> {
    pub id: Uuid,
    pub ttl: Duration,
    /// The authentication methods of the sign-in, as its access tokens carry them.
    pub amr: &'a [String],
    pub refresh_hash: &'a [u8],
}

/// Opens a session that lives `ttl` unless it is refreshed, signed in by the methods
/// `amr` (RFC 8176).
pub async fn create<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    user_id: Uuid,
    ttl: Duration,
    amr: &[String],
    meta: &RequestMeta,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, expires_at, ip, user_agent, amr)
         VALUES ($1, $2, now() + $3, $4, $5, $6)",
        id,
        user_id,
        ttl as Duration,
        meta.ip.map(ipnet::IpNet::from),
        meta.user_agent.as_deref(),
        amr,
    )
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
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
         SELECT $1, id, expires_at FROM sessions WHERE id = $2",
        token_hash,
        session_id,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Finds a refresh token and locks its row, so that concurrent refreshes of one token are
/// decided one after the other; `grace` decides `within_grace`.
pub async fn lock_refresh_token<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    grace: Duration,
) -> Result<Option<RefreshState>, sqlx::Error> {
    sqlx::query_as!(
        RefreshState,
        r#"SELECT s.id AS session_id, s.user_id, rt.rotated_at,
                  coalesce(rt.rotated_at > clock_timestamp() - $2::interval, false) AS "within_grace!",
                  rt.expires_at <= now() AS "token_expired!",
                  (s.ended_at IS NULL AND s.expires_at > now()) AS "session_open!",
                  u.status AS "user_status: Status", u.role AS "user_role: Role", s.amr
           FROM refresh_tokens rt
           JOIN sessions s ON s.id = rt.session_id
           JOIN users u ON u.id = s.user_id
           WHERE rt.token_hash = $1
           FOR UPDATE OF rt"#,
        token_hash,
        grace as Duration,
    )
    .fetch_optional(executor)
    .await
}

/// Marks a refresh token as rotated (replaced by a newer one).
pub async fn mark_rotated<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1",
        token_hash
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Records that a session was just used (at refresh), from where, and extends it: a session
/// lives `ttl` past its last refresh.
pub async fn touch<'e>(
    executor: impl PgExecutor<'e>,
    session_id: Uuid,
    ttl: Duration,
    meta: &RequestMeta,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET last_used_at = now(), expires_at = now() + $4,
                ip = coalesce($2, ip), user_agent = coalesce($3, user_agent)
         WHERE id = $1",
        session_id,
        meta.ip.map(ipnet::IpNet::from),
        meta.user_agent.as_deref(),
        ttl as Duration,
    )
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
    let result = sqlx::query!(
        "UPDATE sessions SET ended_at = now(), end_reason = $2 WHERE id = $1 AND ended_at IS NULL",
        session_id,
        reason as EndReason,
    )
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
    let result = sqlx::query!(
        "UPDATE sessions SET ended_at = now(), end_reason = $2
         WHERE user_id = $1 AND ended_at IS NULL AND ($3::uuid IS NULL OR id <> $3)",
        user_id,
        reason as EndReason,
        keep,
    )
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// Counts a failed re-authentication in a session; returns the consecutive failures.
pub async fn reauth_failed<'e>(
    executor: impl PgExecutor<'e>,
    session_id: Uuid,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE sessions SET reauth_failures = reauth_failures + 1 WHERE id = $1
         RETURNING reauth_failures",
        session_id,
    )
    .fetch_one(executor)
    .await
}

/// Forgets a session's failed re-authentications (the password was right).
pub async fn reauth_succeeded<'e>(
    executor: impl PgExecutor<'e>,
    session_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET reauth_failures = 0 WHERE id = $1 AND reauth_failures > 0",
        session_id,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// The session of an access token, and its user, in one query: the hot path of every
/// authenticated request.
pub async fn session_user<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Option<SessionUser>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name,
                  u.role AS "role: Role", u.status AS "status: Status", u.preferences,
                  u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.external_id,
                  EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS "has_avatar!",
                  (s.ended_at IS NULL AND s.expires_at > now()) AS "session_open!"
           FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.id = $1 AND s.user_id = $2"#,
        session_id,
        user_id,
    )
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let user = UserRow {
        id: row.id,
        email_ciphertext: row.email_ciphertext,
        email_key_id: row.email_key_id,
        email_verified_at: row.email_verified_at,
        name: row.name,
        role: row.role,
        status: row.status,
        preferences: row.preferences,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_login_at: row.last_login_at,
        deactivated_at: row.deactivated_at,
        external_id: row.external_id,
        has_avatar: row.has_avatar,
    };
    Ok(Some(SessionUser {
        user: user.into_user(cipher)?,
        session_open: row.session_open,
    }))
}

/// An open session of a user.
#[derive(Debug)]
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
    sqlx::query_as!(
        OpenSession,
        "SELECT id, created_at, last_used_at, ip, user_agent FROM sessions
         WHERE user_id = $1 AND ended_at IS NULL AND expires_at > now()
         ORDER BY created_at DESC, id DESC",
        user_id,
    )
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
    let result = sqlx::query!(
        "UPDATE sessions SET ended_at = now(), end_reason = $3
         WHERE id = $1 AND user_id = $2 AND ended_at IS NULL AND expires_at > now()",
        session_id,
        user_id,
        reason as EndReason,
    )
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}
