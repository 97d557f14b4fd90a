//! SQL of the audit trail.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::event::Event;

/// Appends one event; pass the transaction of the change it records.
pub async fn insert<'e>(
    executor: impl PgExecutor<'e>,
    event: &Event<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events
             (id, action, outcome, actor_id, target_id, ip, user_agent, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7())
    .bind(event.action.as_str())
    .bind(event.outcome.as_str())
    .bind(event.actor_id)
    .bind(event.target_id)
    .bind(event.meta.ip.map(ipnet::IpNet::from))
    .bind(event.meta.user_agent.as_deref())
    .bind(event.meta.request_id.as_deref())
    .bind(&event.details)
    .execute(executor)
    .await?;
    Ok(())
}
