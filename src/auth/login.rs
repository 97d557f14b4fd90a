//! Login, refresh-token rotation with reuse detection, logout, and the check that turns an
//! access token into the current user.

use std::time::Duration;

use uuid::Uuid;

use super::AuthError;
use super::throttle::{AccountBudget, Slowdown};
use crate::crypto;
use crate::db::one_time;
use crate::db::sessions::{self, EndReason};
use crate::db::{audit, users};
use crate::deps::Deps;
use crate::mfa::LoginMethod;
use crate::model::{Action, Authenticated, Email, Event, Role, Status};
use crate::passwords::Upgrade;
use crate::request::RequestMeta;
use crate::tokens::TokenError;

/// A new access token and refresh token (redacted in `Debug`).
#[derive(Clone)]
pub struct TokenPair {
    pub access_token: String,
    /// Seconds.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds.
    pub refresh_expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

/// A session just opened, before its tokens are signed.
pub(super) struct Opened {
    pub(super) session_id: Uuid,
    pub(super) refresh_token: String,
    pub(super) amr: Vec<String>,
}

/// Signs the access token of a session and pairs it with its refresh token.
pub(super) fn pair(
    deps: &Deps,
    user_id: Uuid,
    role: Role,
    opened: Opened,
) -> Result<TokenPair, AuthError> {
    let access_token = deps
        .tokens
        .issue(user_id, opened.session_id, role, &opened.amr)
        .map_err(|e| AuthError::Internal(anyhow::anyhow!("signing failed: {e}")))?;
    Ok(TokenPair {
        access_token,
        expires_in: deps.settings.tokens.access_ttl.as_secs(),
        refresh_token: opened.refresh_token,
        refresh_expires_in: deps.settings.tokens.refresh_ttl.as_secs(),
    })
}

/// Opens a session of a completed sign-in in `tx`: its first refresh token, the user's
/// `last_login_at`, and the `auth.login` event naming the method.
pub(super) async fn open_session(
    tx: &mut sqlx::PgTransaction<'_>,
    deps: &Deps,
    user_id: Uuid,
    method: LoginMethod,
    meta: &RequestMeta,
) -> Result<Opened, AuthError> {
    let amr = method.amr_claim();
    let session_id = Uuid::now_v7();
    let (refresh_token, refresh_hash) = crypto::new_token();
    sessions::create(
        &mut **tx,
        session_id,
        user_id,
        deps.settings.tokens.refresh_ttl,
        &amr,
        meta,
    )
    .await?;
    sessions::add_refresh_token(&mut **tx, session_id, &refresh_hash).await?;
    users::record_login(&mut **tx, user_id).await?;
    audit::insert(&mut **tx, &login_event(user_id, session_id, method, meta)).await?;
    Ok(Opened {
        session_id,
        refresh_token,
        amr,
    })
}

/// The `auth.login` success of a session opened by `method`.
pub(super) fn login_event(
    user_id: Uuid,
    session_id: Uuid,
    method: LoginMethod,
    meta: &RequestMeta,
) -> Event<'_> {
    Event::success(Action::AuthLogin, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"session_id": session_id, "method": method.as_str()}))
}

/// Checks email and password and opens a session. An unknown email, an account without a
/// password and a wrong password all cost one Argon2id verification and give the same error.
/// While the failed-login slowdown of this address and client IP lasts, the attempt is
/// refused before any check; a wrong password counts towards it, a right one resets it
/// (with two-step sign-in on, only the second step resets it). With TOTP on, a right
/// password opens no session: the answer is 401 `mfa_required` with a challenge.
pub async fn login(
    deps: &Deps,
    email: &str,
    password: &str,
    meta: &RequestMeta,
) -> Result<TokenPair, AuthError> {
    // The blind index, computed once: the lookup, the slowdown and the budget all key on it.
    let index = Email::parse(email)
        .ok()
        .map(|email| deps.email_index(&email));
    let slowdown = index
        .as_deref()
        .and_then(|index| Slowdown::of(deps, index, meta.ip));
    if let Some(slowdown) = &slowdown {
        slowdown.check(meta).await?;
    }
    let credentials = match &index {
        Some(index) => users::credentials_by_email(&deps.db, index).await?,
        None => None,
    };
    let target = credentials.as_ref().map(|c| c.id);
    let budget = index
        .as_deref()
        .and_then(|index| AccountBudget::of(deps, index));
    if let Some(budget) = &budget {
        budget.check(target, meta).await?;
    }
    let stored_hash = credentials
        .as_ref()
        .and_then(|c| c.password_hash.as_deref());
    let checked = deps.passwords.check(password, stored_hash).await?;
    let matches = checked.matches;
    let second_step = credentials.as_ref().is_some_and(|c| c.mfa);
    if let Some(slowdown) = &slowdown {
        if !matches {
            slowdown.failed().await;
        } else if !second_step {
            slowdown.succeeded().await;
        }
    }
    if let Some(budget) = budget.as_ref().filter(|_| !matches) {
        budget.failed().await;
    }

    // A failed attempt was made by someone unknown: the account it named is only the target.
    let Some(credentials) = credentials.filter(|_| matches) else {
        deps.passwords.pad_failure(checked.took).await;
        let event = Event::failure(Action::AuthLogin, None, target, meta)
            .with_details(serde_json::json!({"reason": "invalid_credentials"}));
        audit::insert(&deps.db, &event).await?;
        return Err(AuthError::InvalidCredentials);
    };
    let refusal = match credentials.status {
        Status::Active => None,
        Status::Deactivated => Some(("account_deactivated", AuthError::AccountDeactivated)),
        Status::PendingVerification => Some(("email_not_verified", AuthError::EmailNotVerified)),
    };
    if let Some((reason, error)) = refusal {
        let event = Event::failure(Action::AuthLogin, target, target, meta)
            .with_details(serde_json::json!({"reason": reason}));
        audit::insert(&deps.db, &event).await?;
        return Err(error);
    }

    if credentials.mfa {
        if let Some(upgrade) = &checked.upgrade {
            let mut tx = deps.db.begin().await?;
            rehash(&mut tx, credentials.id, upgrade, meta).await?;
            tx.commit().await?;
        }
        // No session, no `last_login_at` yet: the second step decides.
        return Err(super::mfa::challenge(deps, credentials.id).await?);
    }
    let mut tx = deps.db.begin().await?;
    if let Some(upgrade) = &checked.upgrade {
        rehash(&mut tx, credentials.id, upgrade, meta).await?;
    }
    let opened = open_session(&mut tx, deps, credentials.id, LoginMethod::Password, meta).await?;
    tx.commit().await?;
    pair(deps, credentials.id, credentials.role, opened)
}

/// Learns, at start, what checking the imported hashes still stored costs, so that a
/// failed login is padded to it from the first request (see `Passwords::pad_failure`).
pub async fn learn_hash_costs(deps: &Deps) {
    match users::foreign_hash_samples(&deps.db).await {
        Ok(hashes) => {
            deps.passwords.learn_costs(&hashes).await;
            tracing::debug!(
                kinds = hashes.len(),
                floor_ms = deps.passwords.failure_floor().as_millis(),
                "learned what checking imported hashes costs"
            );
        }
        Err(error) => tracing::warn!(%error, "cannot read the imported hashes' kinds"),
    }
}

/// Replaces a hash imported in another format (or made with older parameters) by its
/// Argon2id upgrade, with its audit record, in the login's transaction.
async fn rehash(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    upgrade: &Upgrade,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    if users::upgrade_password_hash(&mut *tx, user_id, &upgrade.old, &upgrade.new).await? {
        let event = Event::success(
            Action::AuthPasswordRehashed,
            Some(user_id),
            Some(user_id),
            meta,
        )
        .with_details(serde_json::json!({"scheme": upgrade.old_scheme}));
        audit::insert(&mut *tx, &event).await?;
    }
    Ok(())
}

/// Exchanges a refresh token for a new pair. A token already rotated is reuse: within the
/// grace window it yields another pair of the same session (tabs refreshing at once);
/// after it, the whole session is revoked.
pub async fn refresh(deps: &Deps, token: &str, meta: &RequestMeta) -> Result<TokenPair, AuthError> {
    if !crypto::looks_like_token(token) {
        return Err(AuthError::InvalidToken);
    }
    let hash = crypto::hash_token(token);
    let grace = deps.settings.tokens.refresh_reuse_grace;
    let mut tx = deps.db.begin().await?;
    // The row lock makes concurrent refreshes of one token queue here: the first rotates,
    // the others then see it rotated.
    let Some(state) = sessions::lock_refresh_token(&mut *tx, &hash, grace).await? else {
        return Err(AuthError::InvalidToken);
    };
    if state.token_expired || !state.session_open || state.user_status != Status::Active {
        return Err(AuthError::InvalidToken);
    }
    if state.rotated_at.is_some() {
        if !state.within_grace {
            sessions::end(&mut *tx, state.session_id, EndReason::RefreshReused).await?;
            let event = Event::failure(
                Action::AuthRefreshReused,
                Some(state.user_id),
                Some(state.user_id),
                meta,
            )
            .with_details(serde_json::json!({"session_id": state.session_id}));
            audit::insert(&mut *tx, &event).await?;
            tx.commit().await?;
            return Err(AuthError::RefreshTokenReused);
        }
    } else {
        sessions::mark_rotated(&mut *tx, &hash).await?;
    }
    let (refresh_token, refresh_hash) = crypto::new_token();
    sessions::touch(
        &mut *tx,
        state.session_id,
        deps.settings.tokens.refresh_ttl,
        meta,
    )
    .await?;
    sessions::add_refresh_token(&mut *tx, state.session_id, &refresh_hash).await?;
    tx.commit().await?;
    let opened = Opened {
        session_id: state.session_id,
        refresh_token,
        amr: state.amr,
    };
    pair(deps, state.user_id, state.user_role, opened)
}

/// Ends the session of a refresh token. Idempotent: unknown or ended tokens are fine.
pub async fn logout(deps: &Deps, token: &str, meta: &RequestMeta) -> Result<(), AuthError> {
    if !crypto::looks_like_token(token) {
        return Ok(());
    }
    let hash = crypto::hash_token(token);
    let mut tx = deps.db.begin().await?;
    let Some(state) = sessions::lock_refresh_token(&mut *tx, &hash, Duration::ZERO).await? else {
        return Ok(());
    };
    if sessions::end(&mut *tx, state.session_id, EndReason::Logout).await? {
        let event = Event::success(
            Action::AuthLogout,
            Some(state.user_id),
            Some(state.user_id),
            meta,
        )
        .with_details(serde_json::json!({"session_id": state.session_id}));
        audit::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends every session of the caller; its access tokens stop working at once.
pub async fn logout_all(
    deps: &Deps,
    caller: &Authenticated,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let user_id = caller.user.id;
    let mut tx = deps.db.begin().await?;
    let ended = sessions::end_all(&mut *tx, user_id, EndReason::LogoutAll, None).await?;
    one_time::retire_open(
        &mut *tx,
        user_id,
        &one_time::Purpose::RETIRED_BY_SECURITY_CHANGES,
    )
    .await?;
    let event = Event::success(Action::AuthLogoutAll, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"sessions_ended": ended}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Verifies an access token, then loads its session and user in one query: the token
/// counts only while its session is open and its user active.
pub async fn authenticate(deps: &Deps, token: &str) -> Result<Authenticated, AuthError> {
    let claims = deps.tokens.verify(token).map_err(|e| match e {
        TokenError::Expired => AuthError::TokenExpired,
        TokenError::Invalid => AuthError::InvalidToken,
    })?;
    let found = deps
        .reserved
        .run(&deps.db, |connection| {
            let cipher = deps.cipher.clone();
            Box::pin(async move {
                sessions::session_user(connection, &cipher, claims.sid, claims.sub).await
            })
        })
        .await?;
    match found {
        Some(found) if found.session_open && found.user.status == Status::Active => {
            Ok(Authenticated {
                user: found.user,
                session_id: claims.sid,
            })
        }
        _ => Err(AuthError::TokenRevoked),
    }
}
