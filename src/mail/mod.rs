//! Outgoing mail: the messages and their links, and where they are sent. Queuing happens
//! in the database (`db::outbox`, `db::mail`); delivery in [`crate::mailer`].

pub mod templates;
pub mod transport;

pub use templates::{Rendered, Template};
pub use transport::Transport;
