//! Users: the domain model and its SQL.

pub mod model;
pub mod repo;

pub use model::{Email, Name, Role, Status, User};
