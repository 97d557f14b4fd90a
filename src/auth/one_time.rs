//! SQL of one-time tokens: email verification, email change, password reset, invitation.

use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::crypto::Sealed;

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    EmailVerification,
    EmailChange,
    PasswordReset,
    Invitation,
}

impl Purpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::EmailChange => "email_change",
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
        }
    }

    /// How long a token of this purpose stays valid.
    pub fn lifetime_seconds(self) -> i64 {
        match self {
            Self::EmailVerification | Self::EmailChange => 24 * 3600,
            Self::PasswordReset => 3600,
            Self::Invitation => 7 * 24 * 3600,
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [
            Self::EmailVerification,
            Self::EmailChange,
            Self::PasswordReset,
            Self::Invitation,
        ]
        .into_iter()
        .find(|p| p.as_str() == value)
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

#[derive(FromRow)]
struct Row {
    id: Uuid,
    purpose: String,
    user_id: Uuid,
    new_email_ciphertext: Option<Vec<u8>>,
    new_email_key_id: Option<String>,
    new_email_blind_index: Option<Vec<u8>>,
    usable: bool,
}

impl Row {
    fn into_token(self) -> Result<OneTimeToken, sqlx::Error> {
        let purpose = Purpose::parse(&self.purpose).ok_or_else(|| {
            sqlx::Error::Decode(format!("unexpected purpose `{}`", self.purpose).into())
        })?;
        let new_email = match (
            self.new_email_ciphertext,
            self.new_email_key_id,
            self.new_email_blind_index,
        ) {
            (Some(bytes), Some(key_id), Some(index)) => Some((Sealed { key_id, bytes }, index)),
            _ => None,
        };
        Ok(OneTimeToken {
            id: self.id,
            purpose,
            user_id: self.user_id,
            new_email,
            usable: self.usable,
        })
    }
}

/// Stores a token (its hash) for a user; `new_email` only for an email change.
pub async fn insert<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    purpose: Purpose,
    user_id: Uuid,
    new_email: Option<(&Sealed, &[u8])>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO one_time_tokens (id, token_hash, purpose, user_id, new_email_ciphertext,
                                      new_email_key_id, new_email_blind_index, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))",
    )
    .bind(Uuid::now_v7())
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(user_id)
    .bind(new_email.map(|(sealed, _)| sealed.bytes.as_slice()))
    .bind(new_email.map(|(sealed, _)| sealed.key_id.as_str()))
    .bind(new_email.map(|(_, index)| index))
    .bind(purpose.lifetime_seconds() as f64)
    .execute(executor)
    .await?;
    Ok(())
}

/// Finds a token of one of `purposes`; with `lock`, its row stays locked until the
/// transaction ends, so it can be used only once even by concurrent requests.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &[u8],
    purposes: &[Purpose],
    lock: bool,
) -> Result<Option<OneTimeToken>, sqlx::Error> {
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    let lock = if lock { "FOR UPDATE" } else { "" };
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT id, purpose, user_id, new_email_ciphertext, new_email_key_id, new_email_blind_index,
                (used_at IS NULL AND expires_at > now()) AS usable
         FROM one_time_tokens WHERE token_hash = $1 AND purpose = ANY($2) {lock}"
    ))
    .bind(token_hash)
    .bind(&purposes)
    .fetch_optional(executor)
    .await?;
    row.map(Row::into_token).transpose()
}

/// Marks a token used.
pub async fn mark_used<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE one_time_tokens SET used_at = now() WHERE id = $1")
        .bind(id)
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
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    sqlx::query(
        "UPDATE one_time_tokens SET used_at = now()
         WHERE user_id = $1 AND purpose = ANY($2) AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(&purposes)
    .execute(executor)
    .await?;
    Ok(())
}
