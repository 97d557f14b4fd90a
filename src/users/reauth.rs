//! Re-authentication: the `current_password` that confirms a sensitive change of one's own
//! account is a password check like login, not an oracle for whoever holds a session.
//!
//! - Each failure is audited (`user.reauth_failed`, actor = target = the caller).
//! - Five consecutive failures within one session end that session; the fifth answers
//!   `token_revoked`. This is a safety rule, counted in the database (every instance sees
//!   it) and kept when rate limits are off.
//! - At most `REAUTH_FAILURE_BUDGET` (10) failures an hour per user are judged, on all these
//!   routes together; further attempts are refused before any hashing.
//! - A right password resets the session's count.
//! - A refusal by that budget is audited like every limit's (`auth.rate_limited`,
//!   `limit: reauth_budget`), at most once a minute per user.

use crate::db::sessions::{self, EndReason};
use crate::db::{audit, users};
use crate::deps::Deps;
use crate::model::{Action, Authenticated, Event};
use crate::passwords::HashError;
use crate::rate_limit::Verdict;
use crate::rate_limit::policy::{Limits, REAUTH_WINDOW};
use crate::request::RequestMeta;

/// Consecutive failures within a session that end it.
pub const SESSION_FAILURES: i32 = 5;

/// Why a re-authentication did not pass: one outcome for every operation that asks for
/// `current_password`, so each maps it to a problem the same way.
#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    /// The password is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// The password was wrong for the fifth time in a row: the session is over.
    #[error("the session ended after repeated wrong passwords")]
    SessionEnded,
    /// Too many failures this hour: not judged.
    #[error("too many failed re-authentications")]
    RateLimited(Verdict),
    #[error("password hashing is unavailable")]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Checks the caller's `current_password`.
pub(super) async fn check(
    deps: &Deps,
    caller: &Authenticated,
    password: &str,
    meta: &RequestMeta,
) -> Result<(), ReauthError> {
    let user_id = caller.user.id;
    let limiter = &deps.limiter;
    let budget = limiter.limits().reauth_failure_budget;
    let window = Limits::reauth_window(user_id);
    if limiter.enabled()
        && let Some(wait) = limiter.window_wait(&window, budget, REAUTH_WINDOW).await
    {
        record_refusal(deps, &window, user_id, meta).await;
        return Err(ReauthError::RateLimited(Verdict::blocked(budget, wait)));
    }
    let stored = users::password_hash(&deps.db, user_id).await?;
    let right = deps.passwords.verify(password, stored.as_deref()).await?;
    if right {
        sessions::reauth_succeeded(&deps.db, caller.session_id).await?;
        return Ok(());
    }
    if limiter.enabled() {
        limiter.window_add(&window, budget, REAUTH_WINDOW).await;
    }
    let mut tx = deps.db.begin().await?;
    let failures = sessions::reauth_failed(&mut *tx, caller.session_id).await?;
    let ended = failures >= SESSION_FAILURES
        && sessions::end(&mut *tx, caller.session_id, EndReason::ReauthFailed).await?;
    let event = Event::failure(Action::UserReauthFailed, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({
            "consecutive_failures": failures,
            "session_ended": ended,
        }));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Err(if ended {
        ReauthError::SessionEnded
    } else {
        ReauthError::WrongPassword
    })
}

/// Records that the hourly budget refused an attempt, at most once a minute per user, so a
/// flood of refusals is not a flood of inserts. A failed write is logged only: the refusal
/// stands either way.
async fn record_refusal(deps: &Deps, window: &str, user_id: uuid::Uuid, meta: &RequestMeta) {
    if !deps.limiter.first_in_a_while(window) {
        return;
    }
    let event = Event::failure(Action::AuthRateLimited, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"limit": "reauth_budget"}));
    if let Err(error) = audit::insert(&deps.db, &event).await {
        tracing::warn!(%error, "could not record a re-authentication refusal");
    }
}
