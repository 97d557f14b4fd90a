//! The outcomes of profile and administration operations that a caller acts on.

use super::model::{FieldProblems, Invalid};
use crate::auth::AuthError;
use crate::rbac::Forbidden;

/// Why a user operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid input")]
    Invalid(FieldProblems),
    #[error("no such user")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("this would leave no active admin")]
    LastAdmin,
    #[error("an account with this email address exists")]
    EmailTaken,
    #[error("wrong password")]
    InvalidCredentials,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    UnsupportedMedia(&'static str),
    #[error("the image is too large")]
    TooLarge,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl UserError {
    /// One invalid field.
    pub fn invalid(field: &'static str, invalid: Invalid) -> Self {
        Self::Invalid(vec![(field, invalid)])
    }
}

impl From<Forbidden> for UserError {
    fn from(_: Forbidden) -> Self {
        Self::Forbidden
    }
}

impl From<crate::auth::password::HashError> for UserError {
    fn from(error: crate::auth::password::HashError) -> Self {
        Self::Auth(AuthError::Hashing(error))
    }
}

/// Maps a unique violation on the email index to [`UserError::EmailTaken`].
pub fn email_taken(error: sqlx::Error) -> UserError {
    match crate::auth::error::email_taken(error) {
        AuthError::EmailTaken => UserError::EmailTaken,
        AuthError::Database(error) => UserError::Database(error),
        other => UserError::Auth(other),
    }
}
