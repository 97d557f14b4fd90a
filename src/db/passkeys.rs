//! SQL of passkeys: each user's WebAuthn credentials, and the ceremonies in progress (their
//! server-side state, single use, taken by a `DELETE` so that of two answers to one
//! challenge exactly one gets it).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::sessions::NewSession;
use crate::model::{Action, Event, Outcome, Role, Status};

crate::text_enum! {
    /// Which ceremony a challenge belongs to.
    pub enum Ceremony {
        Registration = "registration",
        SignIn = "sign_in",
    }
}

/// Expired challenges removed, at most, each time one is made: the table stays small
/// without a sweeper, and no request pays for a long backlog.
const EXPIRED_SWEEP: i64 = 16;

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Keeps a ceremony's state for `lifetime`; for a registration, bound to `user_id`. A few
/// expired challenges go in the same statement.
pub async fn create_challenge<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    ceremony: Ceremony,
    user_id: Option<Uuid>,
    state: &Value,
    lifetime: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH expired AS (
             DELETE FROM webauthn_challenges WHERE id IN (
                 SELECT id FROM webauthn_challenges WHERE expires_at < now()
                 LIMIT $6 FOR UPDATE SKIP LOCKED))
         INSERT INTO webauthn_challenges (id, ceremony, user_id, state, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5)",
        id,
        ceremony as Ceremony,
        user_id,
        state,
        lifetime as Duration,
        EXPIRED_SWEEP,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Takes the registration challenge `id` of `user_id`: its state, once, while it is live.
/// `None` for an unknown, used, expired or another user's challenge (or a sign-in's).
pub async fn take_registration<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<Value>, sqlx::Error> {
    let row = sqlx::query!(
        r#"DELETE FROM webauthn_challenges
           WHERE id = $1 AND ceremony = 'registration' AND user_id = $2
           RETURNING state, expires_at > now() AS "live!""#,
        id,
        user_id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.filter(|row| row.live).map(|row| row.state))
}

/// A stored credential with the state of its user, as a sign-in needs it.
#[derive(Debug)]
pub struct StoredCredential {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential: Value,
    pub user_status: Status,
    pub user_role: Role,
}

/// What a sign-in answer finds, read in one query before anything is verified: the
/// sign-in challenge (not taken yet: only a verified answer takes it, in the statement that
/// opens the session, or a refused one, by [`discard_challenge`]) and the credential the
/// answer names, with its user.
#[derive(Debug)]
pub struct SignInContext {
    /// The challenge's state; `None` when it is unknown, used or expired.
    pub state: Option<Value>,
    pub credential: Option<StoredCredential>,
}

/// Reads a sign-in challenge and the credential a sign-in names.
pub async fn find_sign_in<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    credential_id: &[u8],
) -> Result<SignInContext, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT (SELECT state FROM webauthn_challenges
                   WHERE id = $1 AND ceremony = 'sign_in' AND expires_at > now()) AS "state?",
                  p.id AS "id?", p.user_id AS "user_id?", p.credential AS "credential?",
                  u.status AS "status?: Status", u.role AS "role?: Role"
           FROM (SELECT 1) AS one
           LEFT JOIN passkeys p ON p.credential_id = $2
           LEFT JOIN users u ON u.id = p.user_id"#,
        id,
        credential_id,
    )
    .fetch_one(executor)
    .await?;
    let credential = match (row.id, row.user_id, row.credential, row.status, row.role) {
        (Some(id), Some(user_id), Some(credential), Some(user_status), Some(user_role)) => {
            Some(StoredCredential {
                id,
                user_id,
                credential,
                user_status,
                user_role,
            })
        }
        _ => None,
    };
    Ok(SignInContext {
        state: row.state,
        credential,
    })
}

/// Takes a sign-in challenge out of use (a refused answer spends it too).
pub async fn discard_challenge<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM webauthn_challenges WHERE id = $1 AND ceremony = 'sign_in'",
        id
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// What recording a verified sign-in did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The challenge was gone: another answer took it first. Nothing changed.
    ChallengeGone,
    /// The challenge is spent, but the counter did not go up: no session.
    CounterNotAbove,
    /// The challenge is spent, the credential updated, the session open.
    Opened,
}

/// Records a verified sign-in and opens its session, in one statement: it takes the
/// sign-in challenge `challenge_id` (of two answers to one challenge, only one gets it),
/// stores the credential's new state, counter and `last_used_at`, then the session, its
/// first refresh token, the user's `last_login_at` and `event` (the `auth.login` success).
/// The credential and what follows change only if the challenge was taken and the counter
/// went up (or the authenticator keeps none and it stays 0), so that of two sign-ins racing
/// with one counter value only one counts. The session's columns are those of
/// `sessions::create` and `sessions::add_refresh_token`, as in `mfa::redeem_challenge`; a
/// change to one goes to all three.
pub async fn record_sign_in<'e>(
    executor: impl PgExecutor<'e>,
    challenge_id: Uuid,
    passkey: &VerifiedUse<'_>,
    session: &NewSession<'_>,
    event: &Event<'_>,
) -> Result<Recorded, sqlx::Error> {
    let ip = event.meta.ip.map(ipnet::IpNet::from);
    let row = sqlx::query!(
        r#"WITH taken AS (
               DELETE FROM webauthn_challenges
               WHERE id = $17 AND ceremony = 'sign_in' AND expires_at > now()
               RETURNING id
           ), used AS (
               UPDATE passkeys
               SET credential = COALESCE($2, credential), sign_count = $3, last_used_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM taken)
                 AND (sign_count < $3 OR ($3 = 0 AND sign_count = 0))
               RETURNING user_id
           ), session AS (
               INSERT INTO sessions (id, user_id, expires_at, ip, user_agent, amr)
               SELECT $4, user_id, now() + $5, $6, $7, $8 FROM used
               RETURNING id, expires_at
           ), refresh AS (
               INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
               SELECT $9, id, expires_at FROM session
           ), login AS (
               UPDATE users SET last_login_at = now() WHERE id IN (SELECT user_id FROM used)
           ), event AS (
               INSERT INTO audit_events
                   (id, action, outcome, actor_id, target_id, ip, user_agent, request_id, details)
               SELECT $10, $11, $12, $13, $14, $6, $7, $15, $16 FROM used
           )
           SELECT EXISTS (SELECT 1 FROM taken) AS "taken!",
                  EXISTS (SELECT 1 FROM used) AS "opened!""#,
        passkey.id,
        passkey.credential,
        i64::from(passkey.sign_count),
        session.id,
        session.ttl as Duration,
        ip,
        event.meta.user_agent.as_deref(),
        session.amr,
        session.refresh_hash,
        Uuid::now_v7(),
        event.action as Action,
        event.outcome as Outcome,
        event.actor_id,
        event.target_id,
        event.meta.request_id.as_deref(),
        &event.details,
        challenge_id,
    )
    .fetch_one(executor)
    .await?;
    Ok(match (row.taken, row.opened) {
        (_, true) => Recorded::Opened,
        (true, false) => Recorded::CounterNotAbove,
        (false, false) => Recorded::ChallengeGone,
    })
}

/// A passkey's use in a verified sign-in: its new stored state (`None`: unchanged) and
/// counter.
#[derive(Debug)]
pub struct VerifiedUse<'a> {
    pub id: Uuid,
    pub credential: Option<&'a Value>,
    pub sign_count: u32,
}

/// The credential ids of a user's passkeys (for a registration to exclude).
pub async fn credential_ids<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT credential_id FROM passkeys WHERE user_id = $1",
        user_id
    )
    .fetch_all(executor)
    .await
}

/// Stores a registered passkey. False (nothing written) when the credential is already
/// registered, to this user or another.
pub async fn insert<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    user_id: Uuid,
    credential_id: &[u8],
    credential: &Value,
    sign_count: u32,
    name: &str,
) -> Result<Option<PasskeyRow>, sqlx::Error> {
    sqlx::query_as!(
        PasskeyRow,
        "INSERT INTO passkeys (id, user_id, credential_id, credential, sign_count, name)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (credential_id) DO NOTHING
         RETURNING id, name, created_at, last_used_at",
        id,
        user_id,
        credential_id,
        credential,
        i64::from(sign_count),
        name,
    )
    .fetch_optional(executor)
    .await
}

/// A user's passkeys, oldest first.
pub async fn list<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<Vec<PasskeyRow>, sqlx::Error> {
    sqlx::query_as!(
        PasskeyRow,
        "SELECT id, name, created_at, last_used_at FROM passkeys
         WHERE user_id = $1 ORDER BY created_at, id",
        user_id,
    )
    .fetch_all(executor)
    .await
}

/// Renames one of the user's passkeys; `None` when the user has no such passkey.
pub async fn rename<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    id: Uuid,
    name: &str,
) -> Result<Option<PasskeyRow>, sqlx::Error> {
    sqlx::query_as!(
        PasskeyRow,
        "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2
         RETURNING id, name, created_at, last_used_at",
        id,
        user_id,
        name,
    )
    .fetch_optional(executor)
    .await
}

/// Deletes one of the user's passkeys; false when the user has no such passkey.
pub async fn delete<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
        id,
        user_id,
    )
    .execute(executor)
    .await?;
    Ok(deleted.rows_affected() == 1)
}
