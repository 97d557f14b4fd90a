//! Password recovery: a reset link by mail, and setting a new password with a reset or
//! invitation token.

use super::one_time::{self, Purpose as TokenPurpose};
use super::sessions::{self, EndReason};
use super::{AuthError, email_index, mail_token, password};
use crate::audit::{self, Action, Event};
use crate::crypto;
use crate::request::RequestMeta;
use crate::services::Services;
use crate::users::repo as users;
use crate::users::{Email, Status};

/// Mails a reset link to an active or pending account with this address; nothing to a
/// deactivated or unknown one. The caller answers 202 either way.
pub async fn forgot_password(
    services: &Services,
    email: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let email = Email::parse(email).map_err(|i| AuthError::invalid("email", i))?;
    let Some(user) = users::find_by_email(
        &services.db,
        &services.cipher,
        &email_index(services, &email),
    )
    .await?
    else {
        return Ok(());
    };
    if user.status == Status::Deactivated {
        return Ok(());
    }
    let mut tx = services.db.begin().await?;
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::PasswordReset]).await?;
    mail_token(
        &mut tx,
        services,
        TokenPurpose::PasswordReset,
        user.id,
        &user.email,
        &user.name,
        None,
    )
    .await?;
    let event = Event::success(
        Action::AuthPasswordResetRequested,
        Some(user.id),
        Some(user.id),
        meta,
    );
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    services.outbox_wake.notify_one();
    Ok(())
}

/// Sets a new password with a reset or invitation token: ends every session, marks the
/// address verified and a pending account active (the token proved the mailbox).
pub async fn reset_password(
    services: &Services,
    token: &str,
    new_password: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    if !crypto::looks_like_token(token) {
        return Err(AuthError::InvalidResetToken);
    }
    let hash = crypto::hash_token(token);
    let purposes = [TokenPurpose::PasswordReset, TokenPurpose::Invitation];
    let found = one_time::find(&services.db, &hash, &purposes, false).await?;
    let Some(found) = found.filter(|t| t.usable) else {
        return Err(AuthError::InvalidResetToken);
    };
    let user = users::find(&services.db, &services.cipher, found.user_id).await?;
    let Some(user) = user.filter(|u| u.status != Status::Deactivated) else {
        return Err(AuthError::InvalidResetToken);
    };
    let email = Email::parse(&user.email).ok();
    let problems: Vec<_> = password::check_rules(new_password, email.as_ref())
        .into_iter()
        .map(|invalid| ("new_password", invalid))
        .collect();
    if !problems.is_empty() {
        return Err(AuthError::Invalid(problems));
    }
    // Hash before the transaction: no lock is held while the CPU works.
    let password_hash = services.passwords.hash(new_password).await?;

    let mut tx = services.db.begin().await?;
    // Checked again under lock: two resets racing with one token, only one wins.
    let locked = one_time::find(&mut *tx, &hash, &purposes, true).await?;
    if !locked.is_some_and(|t| t.usable) {
        return Err(AuthError::InvalidResetToken);
    }
    users::set_password(&mut *tx, user.id, &password_hash).await?;
    users::mark_email_verified(&mut *tx, user.id).await?;
    let ended = sessions::end_all(&mut *tx, user.id, EndReason::PasswordReset, None).await?;
    one_time::retire_open(&mut *tx, user.id, &purposes).await?;
    let event = Event::success(Action::AuthPasswordReset, Some(user.id), Some(user.id), meta)
        .with_details(serde_json::json!({"sessions_ended": ended, "invitation": found.purpose == TokenPurpose::Invitation}));
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
