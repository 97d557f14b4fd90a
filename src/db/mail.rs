//! Mail written in the caller's transaction: a rendered message into the outbox, and a
//! one-time token together with the message that carries its link. Either both commit
//! with the change that caused them, or neither does.

use sqlx::PgConnection;
use uuid::Uuid;

use super::one_time::{self, Purpose};
use super::outbox;
use crate::crypto::{self, FieldCipher, Sealed};
use crate::mail::templates::{self, Template};

/// Where a message goes, and whom it greets: a name only for a proven address (see
/// [`templates::render`]).
#[derive(Clone, Copy)]
pub struct Recipient<'a> {
    pub address: &'a str,
    pub name: Option<&'a str>,
}

impl<'a> Recipient<'a> {
    /// A proven address, greeted by name.
    pub fn proven(address: &'a str, name: &'a str) -> Self {
        Self {
            address,
            name: Some(name),
        }
    }

    /// An address not yet proven: greeted without the name someone chose.
    pub fn unproven(address: &'a str) -> Self {
        Self {
            address,
            name: None,
        }
    }
}

impl std::fmt::Debug for Recipient<'_> {
    // Addresses are personal data: keep them out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recipient([redacted])")
    }
}

/// Renders a message and queues it.
pub async fn queue(
    tx: &mut PgConnection,
    cipher: &FieldCipher,
    template: Template,
    to: Recipient<'_>,
    link: Option<&str>,
) -> Result<(), sqlx::Error> {
    let content = templates::render(template, to.name, link);
    outbox::enqueue(tx, cipher, template, to.address, &content).await
}

/// Issues a one-time token of `purpose` for `user_id` and queues the message that carries
/// its link (`public_url` is the base of links): verification and email-change links open
/// `/verify-email`, reset and invitation links `/reset-password`, revert links (in the notice
/// to the old address) `/revert-email`. `new_email` is the sealed address the token carries
/// (the new one of an email change, the old one of its revert), with its blind index.
pub async fn send_token(
    tx: &mut PgConnection,
    cipher: &FieldCipher,
    public_url: &str,
    purpose: Purpose,
    user_id: Uuid,
    to: Recipient<'_>,
    new_email: Option<(&Sealed, &[u8])>,
) -> Result<(), sqlx::Error> {
    let (token, token_hash) = crypto::new_token();
    one_time::insert(&mut *tx, &token_hash, purpose, user_id, new_email).await?;
    let (template, link) = match purpose {
        Purpose::EmailVerification => (
            Template::VerifyEmail,
            templates::verify_link(public_url, &token),
        ),
        Purpose::EmailChange => (
            Template::ConfirmEmailChange,
            templates::verify_link(public_url, &token),
        ),
        Purpose::PasswordReset => (
            Template::ResetPassword,
            templates::reset_link(public_url, &token),
        ),
        Purpose::Invitation => (
            Template::Invitation,
            templates::reset_link(public_url, &token),
        ),
        Purpose::EmailRevert => (
            Template::EmailChangeNotice,
            templates::revert_link(public_url, &token),
        ),
    };
    queue(tx, cipher, template, to, Some(&link)).await
}
