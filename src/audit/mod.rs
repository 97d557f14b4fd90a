//! The audit trail: one event per state change or authentication event, written in the
//! same transaction as the change it records.

pub mod event;
pub mod repo;

pub use event::{Action, Event, Outcome};
