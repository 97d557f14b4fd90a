//! SQL of two-step sign-in: a user's TOTP secret, their recovery codes, and the challenges
//! that stand between a right password and the second step. The replay and single-use
//! rules are decided here by conditional updates, so that of two requests racing with the
//! same code exactly one changes a row.

use std::time::Duration;

use sqlx::PgExecutor;
use uuid::Uuid;

use super::sessions::NewSession;
use crate::crypto::Sealed;
use crate::mfa::Judged;
use crate::model::{Action, Event, Outcome, Role, Status};

/// Wrong codes after which a challenge is dead.
pub const CHALLENGE_FAILURES: i32 = 5;

/// A user's TOTP secret as stored.
#[derive(Debug)]
pub struct StoredTotp {
    pub secret: Sealed,
    /// False while the enrolment waits for its first code.
    pub confirmed: bool,
    /// The step of the newest code accepted: it and every earlier one are spent.
    pub last_used_step: Option<i64>,
}

/// The TOTP secret of `user_id`, confirmed or pending.
pub async fn totp<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<Option<StoredTotp>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT secret_ciphertext, secret_key_id, confirmed_at IS NOT NULL AS "confirmed!",
                  last_used_step
           FROM user_totp WHERE user_id = $1"#,
        user_id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| StoredTotp {
        secret: Sealed {
            key_id: row.secret_key_id,
            bytes: row.secret_ciphertext,
        },
        confirmed: row.confirmed,
        last_used_step: row.last_used_step,
    }))
}

/// Stores a new, unconfirmed secret, replacing an unconfirmed one. False (nothing written)
/// when the user's TOTP is already on.
pub async fn begin_enrolment<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    secret: &Sealed,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query!(
        "INSERT INTO user_totp (user_id, secret_ciphertext, secret_key_id)
         VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE
            SET secret_ciphertext = EXCLUDED.secret_ciphertext,
                secret_key_id = EXCLUDED.secret_key_id,
                created_at = now(), last_used_step = NULL
          WHERE user_totp.confirmed_at IS NULL",
        user_id,
        &secret.bytes,
        &secret.key_id,
    )
    .execute(executor)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Turns a pending enrolment on with the step of its first code. False when there is no
/// pending enrolment (none, or already on) or the step is spent.
pub async fn confirm<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    step: i64,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query!(
        "UPDATE user_totp SET confirmed_at = now(), last_used_step = $2
         WHERE user_id = $1 AND confirmed_at IS NULL
           AND (last_used_step IS NULL OR last_used_step < $2)",
        user_id,
        step,
    )
    .execute(executor)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Spends the code of `step` for a user whose TOTP is on: true for exactly one caller, and
/// never for a step at or before the last one spent (replay).
pub async fn spend_step<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    step: i64,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query!(
        "UPDATE user_totp SET last_used_step = $2
         WHERE user_id = $1 AND confirmed_at IS NOT NULL
           AND (last_used_step IS NULL OR last_used_step < $2)",
        user_id,
        step,
    )
    .execute(executor)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Spends a judged code: the TOTP step or the recovery code. True for exactly one caller.
pub async fn spend<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    judged: &Judged,
) -> Result<bool, sqlx::Error> {
    match judged {
        Judged::TotpStep(step) => spend_step(executor, user_id, *step).await,
        Judged::RecoveryCode(hash) => spend_recovery_code(executor, user_id, hash).await,
    }
}

/// Removes the user's TOTP (on or pending) and recovery codes. True when TOTP was on.
pub async fn remove<'e>(executor: impl PgExecutor<'e>, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let was_on = sqlx::query_scalar!(
        r#"WITH codes AS (DELETE FROM recovery_codes WHERE user_id = $1)
           DELETE FROM user_totp WHERE user_id = $1
           RETURNING confirmed_at IS NOT NULL AS "on!""#,
        user_id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(was_on.unwrap_or(false))
}

/// Replaces the user's recovery codes with these hashes: the old set stops working.
pub async fn replace_recovery_codes<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    hashes: &[Vec<u8>],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH old AS (DELETE FROM recovery_codes WHERE user_id = $1)
         INSERT INTO recovery_codes (user_id, code_hash)
         SELECT $1, hash FROM unnest($2::bytea[]) AS hash",
        user_id,
        hashes,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Spends an unused recovery code: true for exactly one caller.
pub async fn spend_recovery_code<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    code_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query!(
        "UPDATE recovery_codes SET used_at = now()
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        user_id,
        code_hash,
    )
    .execute(executor)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Whether TOTP is on, how many recovery codes are left unused, and how many passkeys the
/// user has.
pub async fn status<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<(bool, i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT EXISTS (SELECT 1 FROM user_totp
                          WHERE user_id = $1 AND confirmed_at IS NOT NULL) AS "on!",
                  (SELECT count(*) FROM recovery_codes
                   WHERE user_id = $1 AND used_at IS NULL) AS "remaining!",
                  (SELECT count(*) FROM passkeys WHERE user_id = $1) AS "passkeys!""#,
        user_id,
    )
    .fetch_one(executor)
    .await?;
    Ok((row.on, row.remaining, row.passkeys))
}

/// Opens the challenge of a right password, to be answered within `lifetime`. The user's
/// expired challenges go in the same statement: an unknown token and an expired one get the
/// same answer, so nothing is lost, and the table holds at most the challenges of the last
/// minutes.
pub async fn create_challenge<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    user_id: Uuid,
    lifetime: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH expired AS (DELETE FROM mfa_challenges WHERE user_id = $2 AND expires_at < now())
         INSERT INTO mfa_challenges (token_hash, user_id, expires_at)
         VALUES ($1, $2, now() + $3)",
        token_hash,
        user_id,
        lifetime as Duration,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// What the second step needs before its transaction, read in one query: the challenge,
/// its user, and the user's confirmed TOTP secret.
#[derive(Debug)]
pub struct ChallengeContext {
    pub user_id: Uuid,
    /// Not used, not expired, fewer than [`CHALLENGE_FAILURES`] wrong codes.
    pub live: bool,
    pub status: Status,
    pub role: Role,
    /// The blind index of the user's address (the failed-login slowdown's key).
    pub email_index: Vec<u8>,
    /// `None` when TOTP is not on (switched off since the challenge was made).
    pub totp: Option<StoredTotp>,
}

/// Finds a challenge with its user and TOTP secret, without locking anything.
pub async fn find_challenge<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
) -> Result<Option<ChallengeContext>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT c.user_id,
                  (c.used_at IS NULL AND c.expires_at > now() AND c.failures < $2) AS "live!",
                  u.status AS "status: Status", u.role AS "role: Role", u.email_blind_index,
                  t.secret_ciphertext AS "secret_ciphertext?", t.secret_key_id AS "secret_key_id?",
                  t.last_used_step AS "last_used_step?"
           FROM mfa_challenges c
           JOIN users u ON u.id = c.user_id
           LEFT JOIN user_totp t ON t.user_id = c.user_id AND t.confirmed_at IS NOT NULL
           WHERE c.token_hash = $1"#,
        token_hash,
        CHALLENGE_FAILURES,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| ChallengeContext {
        user_id: row.user_id,
        live: row.live,
        status: row.status,
        role: row.role,
        email_index: row.email_blind_index,
        totp: row
            .secret_ciphertext
            .zip(row.secret_key_id)
            .map(|(bytes, key_id)| StoredTotp {
                secret: Sealed { key_id, bytes },
                confirmed: true,
                last_used_step: row.last_used_step,
            }),
    }))
}

/// What redeeming a challenge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// The challenge is unknown, used, expired or dead (or not this user's): nothing changed.
    NotLive,
    /// The challenge is live but the code was spent meanwhile: nothing changed.
    Spent,
    /// The code was spent, the challenge used, and the session opened with its event.
    Opened,
}

/// Redeems a live challenge of `user_id` with a judged code, in one statement: it locks the
/// challenge (so that concurrent answers queue, and the later ones see it used), spends the
/// code (a conditional update, so that of two challenges answered with one code only one
/// wins), marks the challenge used, and opens the session: the session, its first refresh
/// token, the user's `last_login_at`, and `event` (the `auth.login` success). Everything
/// after the lock happens only if the code was spent. One statement is one round trip and
/// one commit with no transaction held open between them: the second step is the one
/// sign-in path that runs at the rate of a write, not of a hash. The session's columns are
/// those of `sessions::create` and `sessions::add_refresh_token`; a change to one goes to
/// the other.
pub async fn redeem_challenge<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    user_id: Uuid,
    judged: &Judged,
    session: &NewSession<'_>,
    event: &Event<'_>,
) -> Result<Redeemed, sqlx::Error> {
    let (step, code_hash) = match judged {
        Judged::TotpStep(step) => (Some(*step), None),
        Judged::RecoveryCode(hash) => (None, Some(hash.as_slice())),
    };
    let ip = event.meta.ip.map(ipnet::IpNet::from);
    let row = sqlx::query!(
        r#"WITH challenge AS (
               SELECT user_id FROM mfa_challenges
               WHERE token_hash = $1 AND user_id = $2
                 AND used_at IS NULL AND expires_at > now() AND failures < $3
               FOR UPDATE
           ), totp_spent AS (
               UPDATE user_totp SET last_used_step = $4
               WHERE user_id IN (SELECT user_id FROM challenge) AND $4::bigint IS NOT NULL
                 AND confirmed_at IS NOT NULL
                 AND (last_used_step IS NULL OR last_used_step < $4)
               RETURNING user_id
           ), code_spent AS (
               UPDATE recovery_codes SET used_at = now()
               WHERE user_id IN (SELECT user_id FROM challenge) AND code_hash = $5
                 AND used_at IS NULL
               RETURNING user_id
           ), used AS (
               UPDATE mfa_challenges SET used_at = now()
               WHERE token_hash = $1 AND user_id IN (SELECT user_id FROM challenge)
                 AND EXISTS (SELECT 1 FROM totp_spent UNION ALL SELECT 1 FROM code_spent)
               RETURNING user_id
           ), session AS (
               INSERT INTO sessions (id, user_id, expires_at, ip, user_agent, amr)
               SELECT $6, user_id, now() + $7, $8, $9, $10 FROM used
               RETURNING id, expires_at
           ), refresh AS (
               INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
               SELECT $11, id, expires_at FROM session
           ), login AS (
               UPDATE users SET last_login_at = now() WHERE id IN (SELECT user_id FROM used)
           ), event AS (
               INSERT INTO audit_events
                   (id, action, outcome, actor_id, target_id, ip, user_agent, request_id, details)
               SELECT $12, $13, $14, $15, $16, $8, $9, $17, $18 FROM used
           )
           SELECT EXISTS (SELECT 1 FROM challenge) AS "live!",
                  EXISTS (SELECT 1 FROM used) AS "opened!""#,
        token_hash,
        user_id,
        CHALLENGE_FAILURES,
        step,
        code_hash,
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
    )
    .fetch_one(executor)
    .await?;
    Ok(match (row.live, row.opened) {
        (_, true) => Redeemed::Opened,
        (true, false) => Redeemed::Spent,
        (false, false) => Redeemed::NotLive,
    })
}

/// Counts a wrong code against a live challenge; returns the failures so far, or `None`
/// when the challenge is no longer live (answered, expired or dead meanwhile).
pub async fn challenge_failed<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE mfa_challenges SET failures = failures + 1
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() AND failures < $2
         RETURNING failures",
        token_hash,
        CHALLENGE_FAILURES,
    )
    .fetch_optional(executor)
    .await
}
