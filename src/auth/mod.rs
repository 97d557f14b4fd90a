//! Authentication: login and sessions with rotating refresh tokens, the check that turns
//! an access token into the caller, email verification, and password recovery.

pub mod error;
pub mod login;
pub mod mfa;
pub mod passkey;
pub mod recovery;
pub mod throttle;
pub mod verification;

pub use error::AuthError;
