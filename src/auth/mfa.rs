//! The second step of a sign-in: a right password on an account with TOTP on opens no
//! session but a challenge (an opaque `mfa_token`, single use, 5 minutes, dead after 5
//! wrong codes); answering it with a TOTP or recovery code opens the session.
//!
//! Nothing here waits on the network inside a transaction: the challenge, its user and the
//! secret are read first, in one query; the slowdown (which may live in Redis) is asked
//! before anything is written, and told the outcome after. A right code is then redeemed in
//! one statement (`db::mfa::redeem_challenge`) that locks the challenge row, so that two
//! answers to one challenge queue and the second finds it used, and spends the code by a
//! conditional update, so that two answers with the same code to two challenges cannot both
//! win either. A wrong code counts against the challenge, with its audit event, in a short
//! transaction of its own.

use std::time::Duration;

use uuid::Uuid;

use super::AuthError;
use super::login::{self, TokenPair};
use super::throttle::Slowdown;
use crate::crypto;
use crate::db::audit;
use crate::db::mfa::{self, ChallengeContext, Redeemed};
use crate::db::sessions::NewSession;
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

    let outcome = match &judged {
        Some(judged) => redeem(deps, &hash, user_id, judged, meta).await?,
        None => Redemption::Wrong,
    };
    let opened = match outcome {
        Redemption::Opened(opened) => opened,
        Redemption::NotLive => return Err(AuthError::InvalidToken),
        Redemption::Wrong => {
            count_failure(deps, &hash, user_id, meta).await?;
            if let Some(slowdown) = &slowdown {
                slowdown.failed().await;
            }
            return Err(AuthError::InvalidMfaCode);
        }
    };
    if let Some(slowdown) = &slowdown {
        slowdown.succeeded().await;
    }
    login::pair(deps, user_id, found.role, opened)
}

/// What answering a live challenge came to.
enum Redemption {
    Opened(login::Opened),
    /// The challenge was answered, expired or died meanwhile.
    NotLive,
    /// The code matches nothing, or was spent meanwhile.
    Wrong,
}

/// Spends a judged code on the challenge and opens the session, in one statement.
async fn redeem(
    deps: &Deps,
    hash: &[u8],
    user_id: Uuid,
    judged: &Judged,
    meta: &RequestMeta,
) -> Result<Redemption, AuthError> {
    let method = judged.login_method();
    let amr = method.amr_claim();
    let session_id = Uuid::now_v7();
    let (refresh_token, refresh_hash) = crypto::new_token();
    let session = NewSession {
        id: session_id,
        ttl: deps.settings.tokens.refresh_ttl,
        amr: &amr,
        refresh_hash: &refresh_hash,
    };
    let event = login::login_event(user_id, session_id, method, meta);
    Ok(
        match mfa::redeem_challenge(&deps.db, hash, user_id, judged, &session, &event).await? {
            Redeemed::Opened => Redemption::Opened(login::Opened {
                session_id,
                refresh_token,
                amr,
            }),
            Redeemed::Spent => Redemption::Wrong,
            Redeemed::NotLive => Redemption::NotLive,
        },
    )
}

/// Counts a wrong code against the challenge with its `auth.mfa_failed` event; 401
/// `invalid_token` when the challenge stopped being live meanwhile.
async fn count_failure(
    deps: &Deps,
    hash: &[u8],
    user_id: Uuid,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = deps.db.begin().await?;
    let Some(failures) = mfa::challenge_failed(&mut *tx, hash).await? else {
        return Err(AuthError::InvalidToken);
    };
    let event = Event::failure(Action::AuthMfaFailed, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"failures": failures}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
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
