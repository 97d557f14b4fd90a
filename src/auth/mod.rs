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
