//! The second step of a sign-in: a right password on an account with TOTP on opens no
//! session but a challenge (an opaque `mfa_token`, single use, 5 minutes, dead after 5
//! wrong codes); answering it with a TOTP or recovery code opens the session.
//!
//! Nothing here waits on the network inside a transaction: the challenge, its user and the
//! secret are read first, in one query, the slowdown (which may live in Redis) is asked before the transaction, and
//! told the outcome after it. The transaction locks the challenge row, so two answers to
//! one challenge queue; the code itself is spent by a conditional update, so two answers
//! with the same code to two challenges cannot both win either.

use std::time::Duration;

use uuid::Uuid;

use super::AuthError;
use super::login::{self, TokenPair};
use super::throttle::Slowdown;
use crate::crypto;
use crate::db::audit;
use crate::db::mfa::{self, ChallengeContext};
use crate::deps::Deps;
use crate::mfa::{self as factors, Judged};
use crate::model::{Action, Event, Status};
use crate::request::RequestMeta;
use crate::secret::Secret;

/// How long a challenge may be answered.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(300);

/// The second steps an account with TOTP accepts.
pub const METHODS: &[&str] = &["totp", "recovery_code"];

/// The challenge of a right password: what the client answers with.
#[derive(Debug)]
pub struct MfaChallenge {
    pub token: Secret<String>,
    pub methods: &'static [&'static str],
}

/// What answers a challenge.
#[derive(Debug)]
pub enum Answer {
    /// A current TOTP code (or, as anywhere a code is asked, an unused recovery code).
    Code(Secret<String>),
    /// An unused recovery code.
    RecoveryCode(Secret<String>),
}

/// Opens the challenge of a right password for `user_id`: the error that carries it.
pub(super) async fn challenge(deps: &Deps, user_id: Uuid) -> Result<AuthError, AuthError> {
    let (token, hash) = crypto::new_token();
    mfa::create_challenge(&deps.db, &hash, user_id, CHALLENGE_LIFETIME).await?;
    Ok(AuthError::MfaRequired(MfaChallenge {
        token: Secret::new(token),
        methods: METHODS,
    }))
}

/// Answers a challenge: the token pair of a new session, or 401 `invalid_mfa_code` for a
/// wrong code on a live challenge, or 401 `invalid_token` for a challenge that is unknown,
/// used, expired or dead alike.
pub async fn answer(
    deps: &Deps,
    mfa_token: &str,
    answer: &Answer,
    meta: &RequestMeta,
) -> Result<TokenPair, AuthError> {
    if !crypto::looks_like_token(mfa_token) {
        return Err(AuthError::InvalidToken);
    }
    let hash = crypto::hash_token(mfa_token);
    // One read before the transaction: the challenge, its user and the TOTP secret.
    let found = mfa::find_challenge(&deps.db, &hash).await?;
    let Some(found) = found.filter(|c| c.live && c.status == Status::Active) else {
        return Err(AuthError::InvalidToken);
    };
    let user_id = found.user_id;
    let slowdown = Slowdown::of(deps, &found.email_index, meta.ip);
    if let Some(slowdown) = &slowdown {
        slowdown.check(meta).await?;
    }
    let judged = judge(deps, &found, answer)?;

    let mut tx = deps.db.begin().await?;
    // Under lock: of two answers to one challenge, the second sees it used or dead.
    if !mfa::lock_challenge(&mut *tx, &hash).await? {
        return Err(AuthError::InvalidToken);
    }
    let spent = match &judged {
        Some(judged) => mfa::spend(&mut *tx, user_id, judged).await?,
        None => false,
    };
    let Some(method) = judged.filter(|_| spent).map(|j| j.login_method()) else {
        let failures = mfa::challenge_failed(&mut *tx, &hash).await?;
        let event = Event::failure(Action::AuthMfaFailed, Some(user_id), Some(user_id), meta)
            .with_details(serde_json::json!({"failures": failures}));
        audit::insert(&mut *tx, &event).await?;
        tx.commit().await?;
        if let Some(slowdown) = &slowdown {
            slowdown.failed().await;
        }
        return Err(AuthError::InvalidMfaCode);
    };
    mfa::challenge_used(&mut *tx, &hash).await?;
    let opened = login::open_session(&mut tx, deps, user_id, method, meta).await?;
    tx.commit().await?;
    if let Some(slowdown) = &slowdown {
        slowdown.succeeded().await;
    }
    login::pair(deps, user_id, found.role, opened)
}

/// Judges an answer against the user's stored factors, before anything is spent: `None`
/// when it matches nothing. A `code` may be a TOTP code or a recovery code; a
/// `recovery_code` only the latter.
fn judge(
    deps: &Deps,
    found: &ChallengeContext,
    answer: &Answer,
) -> Result<Option<Judged>, AuthError> {
    let (code, totp) = match answer {
        Answer::Code(code) => (code, found.totp.as_ref()),
        Answer::RecoveryCode(code) => (code, None),
    };
    let totp = totp.map(|t| (&t.secret, t.last_used_step));
    let hasher = &deps.recovery_codes;
    Ok(factors::judge_stored(
        &deps.cipher,
        code.expose(),
        totp,
        hasher,
        found.user_id,
    )?)
}
