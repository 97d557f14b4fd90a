//! SQL of the audit trail. The listing's filters vary, so it is built at run time.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::model::audit_query::AuditFilter;
use crate::model::{Action, AuditRecord, Event, Outcome};

/// Appends one event; pass the transaction of the change it records.
pub async fn insert<'e>(
    executor: impl PgExecutor<'e>,
    event: &Event<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_events
             (id, action, outcome, actor_id, target_id, ip, user_agent, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        Uuid::now_v7(),
        event.action as Action,
        event.outcome as Outcome,
        event.actor_id,
        event.target_id,
        event.meta.ip.map(ipnet::IpNet::from),
        event.meta.user_agent.as_deref(),
        event.meta.request_id.as_deref(),
        &event.details,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Whether `user_id` signed in successfully from `client` (an address or network) within
/// the last `days` days, as the audit trail records every sign-in.
pub async fn signed_in_from<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    client: ipnet::IpNet,
    days: u32,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM audit_events
               WHERE target_id = $1 AND occurred_at > now() - make_interval(days => $3)
                 AND action = 'auth.login' AND outcome = 'success' AND ip <<= $2
           ) AS "known!""#,
        user_id,
        client,
        i32::try_from(days).unwrap_or(i32::MAX),
    )
    .fetch_one(executor)
    .await
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    occurred_at: DateTime<Utc>,
    action: Action,
    outcome: Outcome,
    actor_id: Option<Uuid>,
    target_id: Option<Uuid>,
    ip: Option<ipnet::IpNet>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: serde_json::Value,
}

impl From<Row> for AuditRecord {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            occurred_at: row.occurred_at,
            action: row.action,
            outcome: row.outcome,
            actor_id: row.actor_id,
            target_id: row.target_id,
            ip: row.ip.map(|net| net.addr()),
            user_agent: row.user_agent,
            request_id: row.request_id,
            details: row.details,
        }
    }
}

/// One page of events matching `filter`, newest first, and how many match in all.
pub async fn list(
    pool: &PgPool,
    filter: &AuditFilter,
) -> Result<(i64, Vec<AuditRecord>), sqlx::Error> {
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM audit_events e");
    push_conditions(&mut count, filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    if filter.paging.offset >= total {
        return Ok((total, Vec::new()));
    }
    let mut page = QueryBuilder::<Postgres>::new(
        "SELECT id, occurred_at, action, outcome, actor_id, target_id, ip, user_agent, request_id, details
         FROM audit_events e",
    );
    push_conditions(&mut page, filter);
    page.push(" ORDER BY e.occurred_at DESC, e.id DESC LIMIT ")
        .push_bind(filter.paging.per_page)
        .push(" OFFSET ")
        .push_bind(filter.paging.offset);
    let rows: Vec<Row> = page.build_query_as().fetch_all(pool).await?;
    Ok((total, rows.into_iter().map(Into::into).collect()))
}

fn push_conditions(query: &mut QueryBuilder<'_, Postgres>, filter: &AuditFilter) {
    query.push(" WHERE TRUE");
    if let Some(id) = filter.involving {
        query
            .push(" AND (e.actor_id = ")
            .push_bind(id)
            .push(" OR e.target_id = ")
            .push_bind(id)
            .push(")");
    }
    if let Some(id) = filter.actor_id {
        query.push(" AND e.actor_id = ").push_bind(id);
    }
    if let Some(id) = filter.target_id {
        query.push(" AND e.target_id = ").push_bind(id);
    }
    if let Some(action) = filter.action {
        query.push(" AND e.action = ").push_bind(action);
    }
    if let Some(outcome) = filter.outcome {
        query.push(" AND e.outcome = ").push_bind(outcome);
    }
    if let Some(from) = filter.from {
        query.push(" AND e.occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND e.occurred_at < ").push_bind(to);
    }
}
