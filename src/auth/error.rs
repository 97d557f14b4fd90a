//! The outcomes of authentication operations that a caller acts on.

use crate::passwords::HashError;
use crate::rate_limit::Verdict;
use crate::validation::FieldProblems;

/// Why an authentication operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    /// The new address of an email change was taken meanwhile.
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
    #[error("the revert token is invalid, used or expired")]
    InvalidRevertToken,
    /// The password was right and the account signs in in two steps: answer the
    /// challenge at `/auth/login/mfa`.
    #[error("the second step of the sign-in is required")]
    MfaRequired(super::mfa::MfaChallenge),
    /// A wrong code for a live challenge.
    #[error("the second-step code is wrong")]
    InvalidMfaCode,
    /// Passkeys are off: the RP ID would be an IP address.
    #[error("passkeys are off")]
    PasskeysOff,
    /// A limit refused the attempt; the verdict says until when.
    #[error("too many attempts")]
    RateLimited(Verdict),
    #[error("password hashing is unavailable")]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}
