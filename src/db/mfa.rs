//! SQL of two-step sign-in: a user's TOTP secret, their recovery codes, and the challenges
//! that stand between a right password and the second step. The replay and single-use
//! rules are decided here by conditional updates, so that of two requests racing with the
//! same code exactly one changes a row.

use std::time::Duration;

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::crypto::Sealed;
use crate::mfa::Judged;
use crate::model::{Role, Status};

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

/// Whether TOTP is on, and how many recovery codes are left unused.
pub async fn status<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<(bool, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT EXISTS (SELECT 1 FROM user_totp
                          WHERE user_id = $1 AND confirmed_at IS NOT NULL) AS "on!",
                  (SELECT count(*) FROM recovery_codes
                   WHERE user_id = $1 AND used_at IS NULL) AS "remaining!""#,
        user_id,
    )
    .fetch_one(executor)
    .await?;
    Ok((row.on, row.remaining))
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

/// Locks a challenge's row until the transaction ends, so that concurrent answers queue;
/// true when it is still live.
pub async fn lock_challenge<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    let live = sqlx::query_scalar!(
        r#"SELECT (used_at IS NULL AND expires_at > now() AND failures < $2) AS "live!"
           FROM mfa_challenges WHERE token_hash = $1 FOR UPDATE"#,
        token_hash,
        CHALLENGE_FAILURES,
    )
    .fetch_optional(executor)
    .await?;
    Ok(live.unwrap_or(false))
}

/// Counts a wrong code against a challenge; returns the failures so far.
pub async fn challenge_failed<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
) -> Result<i32, sqlx::Error> {
    let failures = sqlx::query_scalar!(
        "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1
         RETURNING failures",
        token_hash,
    )
    .fetch_optional(executor)
    .await?;
    Ok(failures.unwrap_or(CHALLENGE_FAILURES))
}

/// Marks a challenge answered: it cannot be answered again.
pub async fn challenge_used<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE mfa_challenges SET used_at = now() WHERE token_hash = $1",
        token_hash,
    )
    .execute(executor)
    .await?;
    Ok(())
}
