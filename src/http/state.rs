//! The state every request handler shares: the services' dependencies, the metrics
//! recorder, the shutdown flag and the allowed CORS origins. Cheap to clone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderValue;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::config::Settings;
use crate::deps::{Deps, StartError};

/// State shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    deps: Arc<Deps>,
    metrics: PrometheusHandle,
    shutting_down: AtomicBool,
    cors_origins: Vec<HeaderValue>,
}

/// Why the service cannot start with settings that parsed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Deps(#[from] StartError),
    #[error("CORS_ORIGINS: `{0}` cannot be sent as a header")]
    CorsOrigin(String),
}

impl AppState {
    /// Assembles the state from validated settings and an open pool; fails on keys or
    /// addresses that do not work.
    pub fn new(settings: Settings, db: PgPool) -> Result<Self, AppError> {
        let cors_origins = settings
            .server
            .cors_origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| AppError::CorsOrigin(o.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self(Arc::new(Inner {
            deps: Arc::new(Deps::new(settings, db)?),
            metrics: crate::telemetry::metrics_handle(),
            shutting_down: AtomicBool::new(false),
            cors_origins,
        })))
    }

    /// What the services share.
    pub fn deps(&self) -> &Deps {
        &self.0.deps
    }

    /// What the services share, for those that keep working after the response.
    pub fn shared_deps(&self) -> &Arc<Deps> {
        &self.0.deps
    }

    /// The validated settings.
    pub fn settings(&self) -> &Settings {
        &self.0.deps.settings
    }

    /// The database pool.
    pub fn db(&self) -> &PgPool {
        &self.0.deps.db
    }

    /// The metrics recorder's handle.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.0.metrics
    }

    /// True once shutdown has begun: readiness then answers 503 so balancers stop sending.
    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::Relaxed)
    }

    /// Marks the service as shutting down.
    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Whether CORS allows this `Origin`.
    pub fn cors_allows(&self, origin: &HeaderValue) -> bool {
        self.0.cors_origins.iter().any(|o| o == origin)
    }

    /// Whether the service is published over HTTPS (then HSTS is sent).
    pub fn public_url_is_https(&self) -> bool {
        self.settings().server.public_url.is_https()
    }
}
