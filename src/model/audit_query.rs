//! Reading the audit trail: query parameters checked into an [`AuditFilter`].

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::audit::{Action, Outcome};
use crate::paging::{Paging, check_instant};
use crate::validation::FieldProblems;

/// Query parameters of `GET /api/v1/audit-events` (admin).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1)]
    pub page: Option<i64>,
    /// Items per page, 1-100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub per_page: Option<i64>,
    /// Only events by this user.
    pub actor_id: Option<Uuid>,
    /// Only events about this user.
    pub target_id: Option<Uuid>,
    /// Only this action, e.g. `auth.login`.
    #[param(inline)]
    pub action: Option<Action>,
    /// Only this outcome.
    #[param(inline)]
    pub outcome: Option<Outcome>,
    /// From this instant (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Up to this instant (exclusive, RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// Query parameters of `GET /api/v1/users/me/audit-events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OwnAuditQuery {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1)]
    pub page: Option<i64>,
    /// Items per page, 1-100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub per_page: Option<i64>,
    /// Only this action, e.g. `auth.login`.
    #[param(inline)]
    pub action: Option<Action>,
    /// Only this outcome.
    #[param(inline)]
    pub outcome: Option<Outcome>,
    /// From this instant (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Up to this instant (exclusive, RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// A checked audit query.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub paging: Paging,
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    /// Events where this user is the actor or the target.
    pub involving: Option<Uuid>,
    pub action: Option<Action>,
    pub outcome: Option<Outcome>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Checks the parameters both queries share: paging and the time window.
fn paging_and_window(
    page: Option<i64>,
    per_page: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Paging, FieldProblems> {
    let mut problems = Vec::new();
    let paging = Paging::check(page, per_page, &mut problems);
    check_instant("from", from, &mut problems);
    check_instant("to", to, &mut problems);
    if problems.is_empty() {
        Ok(paging)
    } else {
        Err(problems)
    }
}

impl AuditQuery {
    /// Checks the parameters.
    pub fn check(self) -> Result<AuditFilter, FieldProblems> {
        Ok(AuditFilter {
            paging: paging_and_window(self.page, self.per_page, self.from, self.to)?,
            actor_id: self.actor_id,
            target_id: self.target_id,
            involving: None,
            action: self.action,
            outcome: self.outcome,
            from: self.from,
            to: self.to,
        })
    }
}

impl OwnAuditQuery {
    /// Checks the parameters, for the events involving `user_id`.
    pub fn check(self, user_id: Uuid) -> Result<AuditFilter, FieldProblems> {
        Ok(AuditFilter {
            paging: paging_and_window(self.page, self.per_page, self.from, self.to)?,
            involving: Some(user_id),
            action: self.action,
            outcome: self.outcome,
            from: self.from,
            to: self.to,
            ..AuditFilter::default()
        })
    }
}
