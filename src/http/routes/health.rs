//! Liveness, readiness and the Prometheus metrics endpoint.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::problems::ProblemType;
use crate::http::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// `ok` when alive, `ready` when ready to serve.
    pub status: &'static str,
}

/// The process is running.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    security(),
    responses(
        (status = 200, description = "The process runs.", body = Health, example = json!({"status": "ok"})),
    )
)]
pub async fn live() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The service can serve: the database answers and its migrations are current.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    security(),
    responses(
        (status = 200, description = "Ready to serve.", body = Health, example = json!({"status": "ready"})),
        (status = 503, description = "Database down, migrations pending, or shutting down.",
         body = Problem, content_type = "application/problem+json",
         example = json!(ProblemType::DatabaseSilent.example())),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    if state.is_shutting_down() {
        return Err(ProblemType::ShuttingDown.into());
    }
    match crate::db::migrations_current(state.db()).await {
        Ok(true) => Ok(axum::Json(Health { status: "ready" })),
        Ok(false) => Err(ProblemType::SchemaBehind.into()),
        Err(error) => Err(ApiError::new(ProblemType::DatabaseSilent).with_cause(error)),
    }
}

/// Prometheus metrics: requests by route and status, latency histogram, database pool,
/// password-hash queue, email outbox backlog.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(),
    responses(
        (status = 200, description = "Prometheus text exposition format.", body = String,
         content_type = "text/plain; version=0.0.4",
         example = "# TYPE http_requests_total counter\nhttp_requests_total{method=\"GET\",route=\"/health/live\",status=\"200\"} 3\n"),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let pool = state.db();
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections").set(f64::from(size));
    metrics::gauge!("db_pool_idle_connections").set(f64::from(idle));
    metrics::gauge!("db_pool_in_use_connections").set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    metrics::gauge!("db_reserved_idle_connections").set(state.deps().reserved.idle() as f64);
    metrics::gauge!("password_hash_queue").set(state.deps().passwords.queue_length() as f64);
    // The backlog needs the database; without it the gauge keeps its last value.
    if let Ok(backlog) = crate::db::outbox::backlog(pool).await {
        metrics::gauge!("email_outbox_backlog").set(backlog as f64);
    }

    let handle = state.metrics();
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
