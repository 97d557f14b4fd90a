//! The outcomes of authentication operations that a caller acts on.

use crate::users::model::{FieldProblems, Invalid};

/// Why an authentication operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input: {}", describe(.0))]
    Invalid(FieldProblems),
    #[error("an account with this email address exists")]
    EmailTaken,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("the email address is not verified")]
    EmailNotVerified,
    #[error("the account is deactivated")]
    AccountDeactivated,
    #[error("the token is invalid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    #[error("the session of this token has ended")]
    TokenRevoked,
    #[error("the refresh token was already used")]
    RefreshTokenReused,
    #[error("the verification token is invalid, used or expired")]
    InvalidVerificationToken,
    #[error("the reset token is invalid, used or expired")]
    InvalidResetToken,
    #[error("password hashing is unavailable")]
    Hashing(#[from] crate::auth::password::HashError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn describe(problems: &FieldProblems) -> String {
    problems
        .iter()
        .map(|(field, invalid)| format!("{field} {}", invalid.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl AuthError {
    /// One invalid field.
    pub fn invalid(field: &'static str, invalid: Invalid) -> Self {
        Self::Invalid(vec![(field, invalid)])
    }
}

/// Maps a unique violation on the email index to [`AuthError::EmailTaken`].
pub fn email_taken(error: sqlx::Error) -> AuthError {
    match &error {
        sqlx::Error::Database(db) if db.constraint() == Some(crate::users::repo::EMAIL_UNIQUE) => {
            AuthError::EmailTaken
        }
        _ => AuthError::Database(error),
    }
}
