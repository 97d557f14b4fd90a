//! HTTP routes, one module per resource.

pub mod audit;
pub mod auth;
pub mod health;
pub mod jwks;
pub mod me;
pub mod mfa;
pub mod pages;
pub mod passkeys;
pub mod transfer;
pub mod users;
