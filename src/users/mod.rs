//! Users: creating accounts, the signed-in person's own account and sessions, and the
//! administration of others. Every operation here owns its transaction.

pub mod accounts;
pub mod admin;
pub mod mfa;
pub mod passkeys;
pub mod profile;
pub mod reauth;
pub mod sessions;
mod shared;
pub mod transfer;

pub use accounts::AccountError;
pub use admin::AdminError;
pub use mfa::MfaError;
pub use passkeys::PasskeyError;
pub use profile::ProfileError;
pub use reauth::ReauthError;
pub use sessions::SessionError;
pub use transfer::TransferError;
