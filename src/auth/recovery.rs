//! Password recovery: a reset link by mail, and setting a new password with a reset or
//! invitation token.

use std::sync::Arc;

use super::{AuthError, throttle};
use crate::crypto;
use crate::db::mail::{self, Recipient};
use crate::db::one_time::{self, Purpose as TokenPurpose};
use crate::db::sessions::{self, EndReason};
use crate::db::{audit, users};
use crate::deps::Deps;
use crate::model::{Action, Email, Event, Status};
use crate::passwords;
use crate::rate_limit::Verdict;
use crate::rate_limit::policy::AddressLimit;
use crate::request::RequestMeta;
use crate::validation::FieldProblems;

/// Mails a reset link to an active or pending account with this address; nothing to a
/// deactivated or unknown one. The caller answers 202 either way, and as fast either way:
/// the address is charged to its own limit (whether or not it exists), then the lookup and
/// the mail happen after the response. The verdict is returned for the response.
pub async fn forgot_password(
    deps: &Arc<Deps>,
    email: &str,
    meta: &RequestMeta,
) -> Result<Option<Verdict>, AuthError> {
    let email = Email::parse(email).map_err(|i| AuthError::Invalid(vec![("email", i)]))?;
    let verdict =
        throttle::charge_address(deps, AddressLimit::ForgotPassword, &email, meta).await?;
    let (shared, meta) = (Arc::clone(deps), meta.clone());
    deps.background.spawn(async move {
        if let Err(error) = mail_reset_link(&shared, &email, &meta).await {
            tracing::warn!(%error, "a password reset mail could not be queued");
        }
    });
    Ok(verdict)
}

/// The work of [`forgot_password`] for a known address.
async fn mail_reset_link(deps: &Deps, email: &Email, meta: &RequestMeta) -> Result<(), AuthError> {
    let Some(user) = users::find_by_email(&deps.db, &deps.cipher, &deps.email_index(email)).await?
    else {
        return Ok(());
    };
    if user.status == Status::Deactivated {
        return Ok(());
    }
    let mut tx = deps.db.begin().await?;
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::PasswordReset]).await?;
    // A pending account's address is not proven yet: no name in the mail.
    let to = if user.email_verified {
        Recipient::proven(&user.email, &user.name)
    } else {
        Recipient::unproven(&user.email)
    };
    mail::send_token(
        &mut tx,
        &deps.cipher,
        deps.public_url(),
        TokenPurpose::PasswordReset,
        user.id,
        to,
        None,
    )
    .await?;
    let event = Event::success(
        Action::AuthPasswordResetRequested,
        Some(user.id),
        Some(user.id),
        meta,
    );
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    deps.outbox_wake.notify_one();
    Ok(())
}

/// Sets a new password with a reset or invitation token: ends every session, marks the
/// address verified and a pending account active (the token proved the mailbox).
pub async fn reset_password(
    deps: &Deps,
    token: &str,
    new_password: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    if !crypto::looks_like_token(token) {
        return Err(AuthError::InvalidResetToken);
    }
    let hash = crypto::hash_token(token);
    let purposes = [TokenPurpose::PasswordReset, TokenPurpose::Invitation];
    let found = one_time::find(&deps.db, &hash, &purposes).await?;
    let Some(found) = found.filter(|t| t.usable) else {
        return Err(AuthError::InvalidResetToken);
    };
    let user = users::find(&deps.db, &deps.cipher, found.user_id).await?;
    let Some(user) = user.filter(|u| u.status != Status::Deactivated) else {
        return Err(AuthError::InvalidResetToken);
    };
    let email = Email::parse(&user.email).ok();
    let problems: FieldProblems = passwords::check_rules(new_password, email.as_ref())
        .into_iter()
        .map(|invalid| ("new_password", invalid))
        .collect();
    if !problems.is_empty() {
        return Err(AuthError::Invalid(problems));
    }
    // Hash before the transaction: no lock is held while the CPU works.
    let password_hash = deps.passwords.hash(new_password).await?;

    let mut tx = deps.db.begin().await?;
    // Checked again under lock: two resets racing with one token, only one wins.
    let locked = one_time::find_locked(&mut *tx, &hash, &purposes).await?;
    if !locked.is_some_and(|t| t.usable) {
        return Err(AuthError::InvalidResetToken);
    }
    users::set_password(&mut *tx, user.id, &password_hash).await?;
    users::mark_email_verified(&mut *tx, user.id).await?;
    let ended = sessions::end_all(&mut *tx, user.id, EndReason::PasswordReset, None).await?;
    // This token's kinds and what every security change retires, in one statement.
    let retired: Vec<TokenPurpose> = purposes
        .iter()
        .chain(&TokenPurpose::RETIRED_BY_SECURITY_CHANGES)
        .copied()
        .collect();
    one_time::retire_open(&mut *tx, user.id, &retired).await?;
    let event = Event::success(Action::AuthPasswordReset, Some(user.id), Some(user.id), meta)
        .with_details(serde_json::json!({"sessions_ended": ended, "invitation": found.purpose == TokenPurpose::Invitation}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
