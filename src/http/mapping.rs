//! How each service's error becomes a problem: the one place where the domain's outcomes
//! meet the client's wording (which lives in [`super::problems`]).

use super::error::ApiError;
use super::problems::ProblemType as P;
use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::avatars::AvatarError;
use crate::passwords::HashError;
use crate::users::{
    AccountError, AdminError, MfaError, PasskeyError, ProfileError, ReauthError, SessionError,
    TransferError,
};

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&error) {
            Self::new(P::DatabaseUnavailable).with_cause(error)
        } else {
            Self::internal(error)
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        Self::new(P::HashingUnavailable).with_cause(error)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Invalid(problems) => Self::invalid(problems),
            AuthError::EmailTaken => P::EmailTaken.into(),
            AuthError::InvalidCredentials => P::InvalidCredentials.into(),
            AuthError::PasskeysOff => P::NotFound.into(),
            AuthError::EmailNotVerified => P::EmailNotVerified.into(),
            AuthError::AccountDeactivated => P::AccountDeactivated.into(),
            AuthError::InvalidToken => P::InvalidToken.into(),
            AuthError::TokenExpired => P::TokenExpired.into(),
            AuthError::TokenRevoked => P::TokenRevoked.into(),
            AuthError::RefreshTokenReused => P::RefreshTokenReused.into(),
            AuthError::InvalidVerificationToken => P::InvalidVerificationToken.into(),
            AuthError::InvalidResetToken => P::InvalidResetToken.into(),
            AuthError::InvalidRevertToken => P::InvalidRevertToken.into(),
            AuthError::MfaRequired(challenge) => Self::mfa_required(challenge),
            AuthError::InvalidMfaCode => P::InvalidMfaCode.into(),
            AuthError::RateLimited(verdict) => Self::rate_limited(verdict),
            AuthError::Hashing(e) => e.into(),
            AuthError::Database(e) => e.into(),
            AuthError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<ReauthError> for ApiError {
    fn from(error: ReauthError) -> Self {
        match error {
            ReauthError::WrongPassword => P::InvalidCredentials.into(),
            ReauthError::SessionEnded => P::TokenRevoked.into(),
            ReauthError::RateLimited(verdict) => Self::rate_limited(verdict),
            ReauthError::Hashing(e) => e.into(),
            ReauthError::Database(e) => e.into(),
        }
    }
}

impl From<MfaError> for ApiError {
    fn from(error: MfaError) -> Self {
        match error {
            MfaError::Invalid(problems) => Self::invalid(problems),
            MfaError::Reauth(e) => e.into(),
            MfaError::Conflict => P::MfaConflict.into(),
            MfaError::Database(e) => e.into(),
            MfaError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<TransferError> for ApiError {
    fn from(error: TransferError) -> Self {
        match error {
            TransferError::Forbidden => P::Forbidden.into(),
            // The client stopped sending: nobody reads this answer.
            TransferError::Read(e) => Self::new(P::BadRequest).with_cause(e),
            TransferError::Database(e) => e.into(),
            TransferError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(error: PasskeyError) -> Self {
        match error {
            PasskeyError::Invalid(problems) => Self::invalid(problems),
            PasskeyError::Reauth(e) => e.into(),
            PasskeyError::NotFound | PasskeyError::Off => P::NotFound.into(),
            PasskeyError::Database(e) => e.into(),
            PasskeyError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(problems) => Self::invalid(problems),
            AccountError::EmailTaken => P::EmailTaken.into(),
            AccountError::Forbidden => P::Forbidden.into(),
            AccountError::Hashing(e) => e.into(),
            AccountError::Database(e) => e.into(),
            AccountError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(error: ProfileError) -> Self {
        match error {
            ProfileError::Invalid(problems) => Self::invalid(problems),
            ProfileError::Reauth(e) => e.into(),
            ProfileError::RateLimited(verdict) => Self::rate_limited(verdict),
            ProfileError::EmailTaken => P::EmailTaken.into(),
            ProfileError::LastAdmin => P::LastAdmin.into(),
            ProfileError::NoSuchUser => Self::internal(anyhow::anyhow!("the caller vanished")),
            ProfileError::Hashing(e) => e.into(),
            ProfileError::Database(e) => e.into(),
            ProfileError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Invalid(problems) => Self::invalid(problems),
            AdminError::Forbidden => P::Forbidden.into(),
            AdminError::NoSuchUser => P::NoSuchUser.into(),
            AdminError::LastAdmin => P::LastAdmin.into(),
            AdminError::NotDeactivated => P::NotDeactivated.into(),
            AdminError::MfaNotOn => P::MfaConflict.into(),
            AdminError::Database(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::NoSuchSession => P::NotFound.into(),
            SessionError::Database(e) => e.into(),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Invalid(problems) => Self::invalid(problems),
            AuditError::Forbidden => P::Forbidden.into(),
            AuditError::Database(e) => e.into(),
        }
    }
}

impl From<AvatarError> for ApiError {
    fn from(error: AvatarError) -> Self {
        match error {
            AvatarError::Unsupported => P::NotAnImage.into(),
            AvatarError::TooLarge => P::ImageTooLarge.into(),
            AvatarError::NoAvatar => P::NotFound.into(),
            AvatarError::Database(e) => e.into(),
            AvatarError::Internal(e) => Self::internal(e),
        }
    }
}
