//! The audit trail: one event per state change or authentication event, written in the
//! same transaction as the change it records.

pub mod event;
pub mod listing;
pub mod repo;

pub use event::{Action, Event, Outcome};

use listing::{AuditFilter, AuditQuery, OwnAuditQuery};
use repo::AuditRecord;

use crate::rbac::{self, Permission};
use crate::services::Services;
use crate::users::User;
use crate::users::error::UserError;

/// One page of audit events.
#[derive(Debug)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    pub filter: AuditFilter,
    pub total: i64,
}

/// The events where `user` is the actor or the target: their own security history.
pub async fn own_events(
    services: &Services,
    user: &User,
    query: OwnAuditQuery,
) -> Result<AuditPage, UserError> {
    let filter = query.check(user.id).map_err(UserError::Invalid)?;
    let (total, items) = repo::list(&services.db, &filter).await?;
    Ok(AuditPage {
        items,
        filter,
        total,
    })
}

/// The whole trail, filtered (admin).
pub async fn all_events(
    services: &Services,
    actor: &User,
    query: AuditQuery,
) -> Result<AuditPage, UserError> {
    rbac::may_attempt(actor, Permission::ReadAllAudit, None)?;
    let filter = query.check().map_err(UserError::Invalid)?;
    let (total, items) = repo::list(&services.db, &filter).await?;
    Ok(AuditPage {
        items,
        filter,
        total,
    })
}
