//! SQL of one-time tokens: email verification, email change, password reset, invitation.

use std::time::Duration;

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::crypto::Sealed;

crate::text_enum! {
    /// What a one-time token is for.
    pub enum Purpose {
        EmailVerification = "email_verification",
        EmailChange = "email_change",
        PasswordReset = "password_reset",
        Invitation = "invitation",
        /// Mailed to the old address of an email change: puts it back.
        EmailRevert = "email_revert",
    }
}

impl Purpose {
    /// What a password change or reset, logout-all and deactivation retire: a pending email
    /// change and unused reset links, which may be in the hands of whoever the change is
    /// meant to shut out. (A revert link stays: it works even after a password change.)
    pub const RETIRED_BY_SECURITY_CHANGES: [Purpose; 2] =
        [Purpose::EmailChange, Purpose::PasswordReset];

    /// How long a token of this purpose stays valid.
    pub fn lifetime(self) -> Duration {
        let hours = match self {
            Self::EmailVerification | Self::EmailChange => 24,
            Self::PasswordReset => 1,
            Self::Invitation | Self::EmailRevert => 7 * 24,
        };
        Duration::from_secs(hours * 3600)
    }
}

/// A token as found: usable only if not used and not expired.
#[derive(Debug)]
pub struct OneTimeToken {
    pub id: Uuid,
    pub purpose: Purpose,
    pub user_id: Uuid,
    pub new_email: Option<(Sealed, Vec<u8>)>,
    pub usable: bool,
}

struct Row {
    id: Uuid,
    purpose: Purpose,
    user_id: Uuid,
    new_email_ciphertext: Option<Vec<u8>>,
    new_email_key_id: Option<String>,
    new_email_blind_index: Option<Vec<u8>>,
    usable: bool,
}

impl From<Row> for OneTimeToken {
    fn from(row: Row) -> Self {
        let new_email = match (
            row.new_email_ciphertext,
            row.new_email_key_id,
            row.new_email_blind_index,
        ) {
            (Some(bytes), Some(key_id), Some(index)) => Some((Sealed { key_id, bytes }, index)),
            _ => None,
        };
        Self {
            id: row.id,
            purpose: row.purpose,
            user_id: row.user_id,
            new_email,
            usable: row.usable,
        }
    }
}

/// Stores a token (its hash) for a user; `new_email` (the address it carries) only for an
/// email change (the new address) and its revert (the old one).
pub async fn insert<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    purpose: Purpose,
    user_id: Uuid,
    new_email: Option<(&Sealed, &[u8])>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO one_time_tokens (id, token_hash, purpose, user_id, new_email_ciphertext,
                                      new_email_key_id, new_email_blind_index, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8)",
        Uuid::now_v7(),
        token_hash,
        purpose as Purpose,
        user_id,
        new_email.map(|(sealed, _)| sealed.bytes.as_slice()),
        new_email.map(|(sealed, _)| sealed.key_id.as_str()),
        new_email.map(|(_, index)| index),
        purpose.lifetime() as Duration,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Finds a token of one of `purposes`, without locking it.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    purposes: &[Purpose],
) -> Result<Option<OneTimeToken>, sqlx::Error> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT id, purpose AS "purpose: Purpose", user_id, new_email_ciphertext,
                  new_email_key_id, new_email_blind_index,
                  (used_at IS NULL AND expires_at > now()) AS "usable!"
           FROM one_time_tokens WHERE token_hash = $1 AND purpose = ANY($2)"#,
        token_hash,
        purposes as &[Purpose],
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(Into::into))
}

/// Finds a token of one of `purposes` and locks its row until the transaction ends, so it
/// can be used only once even by concurrent requests.
pub async fn find_locked<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    purposes: &[Purpose],
) -> Result<Option<OneTimeToken>, sqlx::Error> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT id, purpose AS "purpose: Purpose", user_id, new_email_ciphertext,
                  new_email_key_id, new_email_blind_index,
                  (used_at IS NULL AND expires_at > now()) AS "usable!"
           FROM one_time_tokens WHERE token_hash = $1 AND purpose = ANY($2)
           FOR UPDATE"#,
        token_hash,
        purposes as &[Purpose],
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(Into::into))
}

/// Marks a token used.
pub async fn mark_used<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE one_time_tokens SET used_at = now() WHERE id = $1",
        id
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Retires a user's unused tokens of some purposes (a newer one replaces them).
pub async fn retire_open<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    purposes: &[Purpose],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE one_time_tokens SET used_at = now()
         WHERE user_id = $1 AND purpose = ANY($2) AND used_at IS NULL",
        user_id,
        purposes as &[Purpose],
    )
    .execute(executor)
    .await?;
    Ok(())
}
