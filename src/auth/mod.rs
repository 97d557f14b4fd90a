//! Authentication: registration and email verification, login and sessions with rotating
//! refresh tokens, password recovery, JWT access tokens.

pub mod error;
pub mod login;
pub mod one_time;
pub mod password;
pub mod recovery;
pub mod registration;
pub mod sessions;
pub mod tokens;

pub use error::AuthError;

use sqlx::PgConnection;

use crate::crypto::{Purpose, Sealed};
use crate::email::outbox;
use crate::email::templates::{self, Template};
use crate::services::Services;
use crate::users::Email;

/// Seals an address and computes its blind index.
pub fn seal_email(services: &Services, email: &Email) -> Result<(Sealed, Vec<u8>), AuthError> {
    let sealed = services
        .cipher
        .encrypt(Purpose::Email, email.as_str().as_bytes())
        .map_err(|e| AuthError::Internal(e.into()))?;
    Ok((sealed, services.blind_index.compute(&email.normalised())))
}

/// The blind index of an address.
pub fn email_index(services: &Services, email: &Email) -> Vec<u8> {
    services.blind_index.compute(&email.normalised())
}

/// Renders a message and queues it in the caller's transaction.
pub async fn queue_mail(
    tx: &mut PgConnection,
    services: &Services,
    template: Template,
    to: &str,
    name: &str,
    link: Option<&str>,
) -> Result<(), AuthError> {
    let content = templates::render(template, name, link);
    outbox::enqueue(tx, &services.cipher, template, to, &content).await?;
    Ok(())
}

/// Issues a one-time token of `purpose` for `user_id` and queues the mail that carries its
/// link, both in the caller's transaction: verification and email-change links open
/// `/verify-email`, reset and invitation links `/reset-password`. `new_email` is the sealed
/// new address of an email change.
pub async fn mail_token(
    tx: &mut PgConnection,
    services: &Services,
    purpose: one_time::Purpose,
    user_id: uuid::Uuid,
    to: &str,
    name: &str,
    new_email: Option<(&Sealed, &[u8])>,
) -> Result<(), AuthError> {
    use one_time::Purpose as P;
    let (token, token_hash) = crate::crypto::new_token();
    one_time::insert(&mut *tx, &token_hash, purpose, user_id, new_email).await?;
    let (template, link) = match purpose {
        P::EmailVerification => (
            Template::VerifyEmail,
            templates::verify_link(services.public_url(), &token),
        ),
        P::EmailChange => (
            Template::ConfirmEmailChange,
            templates::verify_link(services.public_url(), &token),
        ),
        P::PasswordReset => (
            Template::ResetPassword,
            templates::reset_link(services.public_url(), &token),
        ),
        P::Invitation => (
            Template::Invitation,
            templates::reset_link(services.public_url(), &token),
        ),
    };
    queue_mail(tx, services, template, to, name, Some(&link)).await
}
