//! Email verification (of a new account or a changed address), undoing an email change
//! from the old address, and resending the verification mail.

use std::sync::Arc;

use super::{AuthError, throttle};
use crate::crypto;
use crate::db::audit;
use crate::db::mail::{self, Recipient};
use crate::db::one_time::{self, Purpose as TokenPurpose};
use crate::db::sessions::{self, EndReason};
use crate::db::users::{self, EMAIL_UNIQUE};
use crate::deps::Deps;
use crate::model::{Action, Email, Event, Status, User};
use crate::rate_limit::Verdict;
use crate::rate_limit::policy::AddressLimit;
use crate::request::RequestMeta;

/// Uses a verification token: activates the account, or completes an email change. A
/// completed change ends every session of the user and retires its unused reset links
/// (they were mailed to the old address); a deactivated user's change does not complete.
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
    let user_id = found.user_id;
    let event = match (&found.purpose, &found.new_email) {
        (TokenPurpose::EmailChange, Some((sealed, index))) => {
            let user = users::find(&mut *tx, &deps.cipher, user_id).await?;
            if user.is_none_or(|u| u.status == Status::Deactivated) {
                return Err(AuthError::InvalidVerificationToken);
            }
            users::change_email(&mut *tx, user_id, sealed, index)
                .await
                .map_err(taken)?;
            let ended = sessions::end_all(&mut *tx, user_id, EndReason::EmailChanged, None).await?;
            one_time::retire_open(
                &mut *tx,
                user_id,
                &TokenPurpose::RETIRED_BY_SECURITY_CHANGES,
            )
            .await?;
            Event::success(Action::UserEmailChanged, Some(user_id), Some(user_id), meta)
                .with_details(serde_json::json!({"sessions_ended": ended}))
        }
        _ => {
            users::mark_email_verified(&mut *tx, user_id).await?;
            Event::success(
                Action::UserEmailVerified,
                Some(user_id),
                Some(user_id),
                meta,
            )
        }
    };
    one_time::mark_used(&mut *tx, found.id).await?;
    audit::insert(&mut *tx, &event).await?;
    let user = users::find(&mut *tx, &deps.cipher, user_id)
        .await?
        .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("token of a missing user")))?;
    tx.commit().await?;
    Ok(user)
}

/// Uses the revert link of an email change, mailed to the old address: the address goes
/// back to it (verified), every session ends, and every pending email change and unused
/// reset link is retired. It works after the new address was confirmed, and after a
/// password change.
pub async fn revert_email(deps: &Deps, token: &str, meta: &RequestMeta) -> Result<User, AuthError> {
    if !crypto::looks_like_token(token) {
        return Err(AuthError::InvalidRevertToken);
    }
    let hash = crypto::hash_token(token);
    let mut tx = deps.db.begin().await?;
    let found = one_time::find_locked(&mut *tx, &hash, &[TokenPurpose::EmailRevert]).await?;
    let Some(found) = found.filter(|t| t.usable) else {
        return Err(AuthError::InvalidRevertToken);
    };
    let user_id = found.user_id;
    let Some((sealed, index)) = &found.new_email else {
        return Err(AuthError::Internal(anyhow::anyhow!(
            "a revert token without its address"
        )));
    };
    users::change_email(&mut *tx, user_id, sealed, index)
        .await
        .map_err(taken)?;
    one_time::mark_used(&mut *tx, found.id).await?;
    let ended = sessions::end_all(&mut *tx, user_id, EndReason::EmailReverted, None).await?;
    one_time::retire_open(
        &mut *tx,
        user_id,
        &TokenPurpose::RETIRED_BY_SECURITY_CHANGES,
    )
    .await?;
    let event = Event::success(
        Action::UserEmailChangeReverted,
        Some(user_id),
        Some(user_id),
        meta,
    )
    .with_details(serde_json::json!({"sessions_ended": ended}));
    audit::insert(&mut *tx, &event).await?;
    let user = users::find(&mut *tx, &deps.cipher, user_id)
        .await?
        .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("token of a missing user")))?;
    tx.commit().await?;
    Ok(user)
}

/// A unique violation on the address: another account has it now.
fn taken(error: sqlx::Error) -> AuthError {
    if crate::db::violates(&error, EMAIL_UNIQUE) {
        AuthError::EmailTaken
    } else {
        AuthError::Database(error)
    }
}

/// Sends a fresh verification link to a pending account; does nothing, silently, for any
/// other address (the answer must not reveal which addresses exist, by its content or its
/// time: the lookup and the mail happen after the response). The address is charged to
/// its own limit whether or not it exists; the verdict is returned for the response.
pub async fn resend_verification(
    deps: &Arc<Deps>,
    email: &str,
    meta: &RequestMeta,
) -> Result<Option<Verdict>, AuthError> {
    let email = Email::parse(email).map_err(|i| AuthError::Invalid(vec![("email", i)]))?;
    let verdict =
        throttle::charge_address(deps, AddressLimit::ResendVerification, &email, meta).await?;
    let shared = Arc::clone(deps);
    deps.background.spawn(async move {
        if let Err(error) = mail_verification_link(&shared, &email).await {
            tracing::warn!(%error, "a verification mail could not be queued");
        }
    });
    Ok(verdict)
}

/// The work of [`resend_verification`] for a pending account.
async fn mail_verification_link(deps: &Deps, email: &Email) -> Result<(), AuthError> {
    let Some(user) = users::find_by_email(&deps.db, &deps.cipher, &deps.email_index(email)).await?
    else {
        return Ok(());
    };
    if user.status != Status::PendingVerification || user.email_verified {
        return Ok(());
    }
    let mut tx = deps.db.begin().await?;
    // Only the newest link works: older ones are retired.
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::EmailVerification]).await?;
    let to = Recipient::unproven(&user.email);
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
    Ok(())
}
