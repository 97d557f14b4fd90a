//! Reading the audit trail: one's own security history, and the whole trail for admins.
//! (Events are written by each service in the transaction of the change they record, with
//! [`crate::db::audit::insert`].)

use crate::db;
use crate::deps::Deps;
use crate::model::audit_query::{AuditFilter, AuditQuery, OwnAuditQuery};
use crate::model::{AuditRecord, User};
use crate::rbac::{self, Permission};
use crate::validation::FieldProblems;

/// Why the trail cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A bad query parameter.
    #[error("invalid query: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    /// Only admins read the whole trail.
    #[error("forbidden")]
    Forbidden,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One page of audit events.
#[derive(Debug)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    pub filter: AuditFilter,
    pub total: i64,
}

/// The events where `user` is the actor or the target: their own security history, with
/// the IP and user agent only of what the user did or what was attempted on the account
/// by nobody signed in (failed logins).
pub async fn own_events(
    deps: &Deps,
    user: &User,
    query: OwnAuditQuery,
) -> Result<AuditPage, AuditError> {
    let filter = query.check(user.id).map_err(AuditError::Invalid)?;
    let mut page = page(deps, filter).await?;
    // The user's own requests and sign-in attempts on the account show where they came
    // from; what another user (an admin, a manager) did to it does not reveal their IP.
    for event in &mut page.items {
        if event.actor_id.is_some_and(|actor| actor != user.id) {
            event.ip = None;
            event.user_agent = None;
        }
    }
    Ok(page)
}

/// The whole trail, filtered (admin).
pub async fn all_events(
    deps: &Deps,
    actor: &User,
    query: AuditQuery,
) -> Result<AuditPage, AuditError> {
    rbac::may_attempt(actor, Permission::ReadAllAudit, None).map_err(|_| AuditError::Forbidden)?;
    let filter = query.check().map_err(AuditError::Invalid)?;
    page(deps, filter).await
}

async fn page(deps: &Deps, filter: AuditFilter) -> Result<AuditPage, AuditError> {
    let (total, items) = db::audit::list(&deps.db, &filter).await?;
    Ok(AuditPage {
        items,
        filter,
        total,
    })
}
