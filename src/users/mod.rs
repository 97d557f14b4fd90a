//! Users: the model, its SQL, self-service profile operations and administration.

pub mod admin;
pub mod error;
pub mod listing;
pub mod merge_patch;
pub mod model;
pub mod profile;
pub mod repo;

pub use model::{Email, Name, Role, Status, User};
