//! Email verification (of a new account or a changed address), and resending the
//! verification mail.

use super::{AuthError, throttle};
use crate::crypto;
use crate::db::audit;
use crate::db::mail::{self, Recipient};
use crate::db::one_time::{self, Purpose as TokenPurpose};
use crate::db::users::{self, EMAIL_UNIQUE};
use crate::deps::Deps;
use crate::model::{Action, Email, Event, Status, User};
use crate::rate_limit::Verdict;
use crate::rate_limit::policy::AddressLimit;
use crate::request::RequestMeta;

/// Uses a verification token: activates the account, or completes an email change.
pub async fn verify_email(deps: &Deps, token: &str, meta: &RequestMeta) -> Result<User, AuthError> {
    if !crypto::looks_like_token(token) {
        return Err(AuthError::InvalidVerificationToken);
    }
    let hash = crypto::hash_token(token);
    let mut tx = deps.db.begin().await?;
    let purposes = [TokenPurpose::EmailVerification, TokenPurpose::EmailChange];
    let found = one_time::find_locked(&mut *tx, &hash, &purposes).await?;
    let Some(found) = found.filter(|t| t.usable) else {
        return Err(AuthError::InvalidVerificationToken);
    };
    let action = match (&found.purpose, &found.new_email) {
        (TokenPurpose::EmailChange, Some((sealed, index))) => {
            users::change_email(&mut *tx, found.user_id, sealed, index)
                .await
                .map_err(|e| {
                    if crate::db::violates(&e, EMAIL_UNIQUE) {
                        AuthError::EmailTaken
                    } else {
                        AuthError::Database(e)
                    }
                })?;
            Action::UserEmailChanged
        }
        _ => {
            users::mark_email_verified(&mut *tx, found.user_id).await?;
            Action::UserEmailVerified
        }
    };
    one_time::mark_used(&mut *tx, found.id).await?;
    audit::insert(
        &mut *tx,
        &Event::success(action, Some(found.user_id), Some(found.user_id), meta),
    )
    .await?;
    let user = users::find(&mut *tx, &deps.cipher, found.user_id)
        .await?
        .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("token of a missing user")))?;
    tx.commit().await?;
    Ok(user)
}

/// Sends a fresh verification link to a pending account; does nothing, silently, for any
/// other address (the answer must not reveal which addresses exist). The address is
/// charged to its own limit whether or not it exists; the verdict is returned for the
/// response.
pub async fn resend_verification(
    deps: &Deps,
    email: &str,
    meta: &RequestMeta,
) -> Result<Option<Verdict>, AuthError> {
    let email = Email::parse(email).map_err(|i| AuthError::Invalid(vec![("email", i)]))?;
    let verdict =
        throttle::charge_address(deps, AddressLimit::ResendVerification, &email, meta).await?;
    let Some(user) =
        users::find_by_email(&deps.db, &deps.cipher, &deps.email_index(&email)).await?
    else {
        return Ok(verdict);
    };
    if user.status != Status::PendingVerification || user.email_verified {
        return Ok(verdict);
    }
    let mut tx = deps.db.begin().await?;
    // Only the newest link works: older ones are retired.
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::EmailVerification]).await?;
    let to = Recipient {
        address: &user.email,
        name: &user.name,
    };
    mail::send_token(
        &mut tx,
        &deps.cipher,
        deps.public_url(),
        TokenPurpose::EmailVerification,
        user.id,
        to,
        None,
    )
    .await?;
    tx.commit().await?;
    deps.outbox_wake.notify_one();
    Ok(verdict)
}
