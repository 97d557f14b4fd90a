//! The domain's types, checked once where they enter: users and their inputs, the user
//! listing's query, audit events and the audit trail's query. No I/O here.

pub mod audit;
pub mod audit_query;
pub mod email;
pub mod listing;
pub mod merge_patch;
pub mod name;
pub mod preferences;
pub mod transfer;
pub mod user;

pub use audit::{Action, AuditRecord, Event, Outcome};
pub use email::Email;
pub use name::Name;
pub use user::{Authenticated, Role, Status, User, check_external_id};
