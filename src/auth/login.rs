//! Login, refresh-token rotation with reuse detection, logout, and the check that turns an
//! access token into the current user.

use uuid::Uuid;

use super::sessions::{self, EndReason};
use super::tokens::TokenError;
use super::{AuthError, email_index};
use crate::audit::{self, Action, Event};
use crate::crypto;
use crate::request::RequestMeta;
use crate::services::Services;
use crate::users::repo as users;
use crate::users::{Email, Role, Status, User};

/// A new access token and refresh token.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// The caller of an authenticated request: its user as it is now, and its session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub session_id: Uuid,
}

fn refresh_ttl(services: &Services) -> i64 {
    i64::try_from(services.settings.config.refresh_token_ttl).unwrap_or(2_592_000)
}

fn pair(
    services: &Services,
    user_id: Uuid,
    session_id: Uuid,
    role: Role,
    refresh_token: String,
) -> Result<TokenPair, AuthError> {
    let access_token = services
        .tokens
        .issue(user_id, session_id, role)
        .map_err(|e| AuthError::Internal(anyhow::anyhow!("signing failed: {e}")))?;
    Ok(TokenPair {
        access_token,
        expires_in: services.tokens.ttl_seconds(),
        refresh_token,
        refresh_expires_in: refresh_ttl(services),
    })
}

/// Checks email and password and opens a session. An unknown email, an account without a
/// password and a wrong password all cost one Argon2id verification and give the same error.
pub async fn login(
    services: &Services,
    email: &str,
    password: &str,
    meta: &RequestMeta,
) -> Result<TokenPair, AuthError> {
    let credentials = match Email::parse(email) {
        Ok(email) => {
            users::credentials_by_email(&services.db, &email_index(services, &email)).await?
        }
        Err(_) => None,
    };
    let stored_hash = credentials
        .as_ref()
        .and_then(|c| c.password_hash.as_deref());
    let matches = services.passwords.verify(password, stored_hash).await?;
    let target = credentials.as_ref().map(|c| c.id);

    // A failed attempt was made by someone unknown: the account it named is only the target.
    let Some(credentials) = credentials.filter(|_| matches) else {
        let event = Event::failure(Action::AuthLogin, None, target, meta)
            .with_details(serde_json::json!({"reason": "invalid_credentials"}));
        audit::repo::insert(&services.db, &event).await?;
        return Err(AuthError::InvalidCredentials);
    };
    let refusal = match Status::parse(&credentials.status) {
        Some(Status::Active) => None,
        Some(Status::Deactivated) => Some(("account_deactivated", AuthError::AccountDeactivated)),
        _ => Some(("email_not_verified", AuthError::EmailNotVerified)),
    };
    if let Some((reason, error)) = refusal {
        let event = Event::failure(Action::AuthLogin, target, target, meta)
            .with_details(serde_json::json!({"reason": reason}));
        audit::repo::insert(&services.db, &event).await?;
        return Err(error);
    }
    let role = Role::parse(&credentials.role).unwrap_or(Role::User);

    let session_id = Uuid::now_v7();
    let (refresh_token, refresh_hash) = crypto::new_token();
    let mut tx = services.db.begin().await?;
    sessions::create(
        &mut *tx,
        session_id,
        credentials.id,
        refresh_ttl(services),
        meta,
    )
    .await?;
    sessions::add_refresh_token(&mut *tx, session_id, &refresh_hash).await?;
    users::record_login(&mut *tx, credentials.id).await?;
    let event = Event::success(Action::AuthLogin, target, target, meta)
        .with_details(serde_json::json!({"session_id": session_id}));
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    pair(services, credentials.id, session_id, role, refresh_token)
}

/// Exchanges a refresh token for a new pair. A token already rotated is reuse: within the
/// grace window it yields another pair of the same session (tabs refreshing at once);
/// after it, the whole session is revoked.
pub async fn refresh(
    services: &Services,
    token: &str,
    meta: &RequestMeta,
) -> Result<TokenPair, AuthError> {
    if !crypto::looks_like_token(token) {
        return Err(AuthError::InvalidToken);
    }
    let hash = crypto::hash_token(token);
    let grace = services.settings.config.refresh_reuse_grace;
    let mut tx = services.db.begin().await?;
    // The row lock makes concurrent refreshes of one token queue here: the first rotates,
    // the others then see it rotated.
    let Some(state) = sessions::lock_refresh_token(&mut *tx, &hash, grace).await? else {
        return Err(AuthError::InvalidToken);
    };
    if state.token_expired || !state.session_open || state.user_status != Status::Active.as_str() {
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
            audit::repo::insert(&mut *tx, &event).await?;
            tx.commit().await?;
            return Err(AuthError::RefreshTokenReused);
        }
    } else {
        sessions::mark_rotated(&mut *tx, &hash).await?;
    }
    let (refresh_token, refresh_hash) = crypto::new_token();
    sessions::touch(&mut *tx, state.session_id, refresh_ttl(services), meta).await?;
    sessions::add_refresh_token(&mut *tx, state.session_id, &refresh_hash).await?;
    tx.commit().await?;
    let role = Role::parse(&state.user_role).unwrap_or(Role::User);
    pair(
        services,
        state.user_id,
        state.session_id,
        role,
        refresh_token,
    )
}

/// Ends the session of a refresh token. Idempotent: unknown or ended tokens are fine.
pub async fn logout(services: &Services, token: &str, meta: &RequestMeta) -> Result<(), AuthError> {
    if !crypto::looks_like_token(token) {
        return Ok(());
    }
    let hash = crypto::hash_token(token);
    let mut tx = services.db.begin().await?;
    let Some(state) = sessions::lock_refresh_token(&mut *tx, &hash, 0).await? else {
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
        audit::repo::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends every session of the caller; its access tokens stop working at once.
pub async fn logout_all(
    services: &Services,
    caller: &Authenticated,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let user_id = caller.user.id;
    let mut tx = services.db.begin().await?;
    let ended = sessions::end_all(&mut *tx, user_id, EndReason::LogoutAll, None).await?;
    let event = Event::success(Action::AuthLogoutAll, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"sessions_ended": ended}));
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Verifies an access token, then loads its session and user in one query: the token
/// counts only while its session is open and its user active.
pub async fn authenticate(services: &Services, token: &str) -> Result<Authenticated, AuthError> {
    let claims = services.tokens.verify(token).map_err(|e| match e {
        TokenError::Expired => AuthError::TokenExpired,
        TokenError::Invalid => AuthError::InvalidToken,
    })?;
    let found = services
        .reserved
        .run(&services.db, |connection| {
            let cipher = services.cipher.clone();
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
