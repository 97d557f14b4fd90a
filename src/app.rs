//! The application: shared state, the router with its middleware, and the server's life
//! cycle from start to graceful shutdown.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::db;
use crate::http::error::ApiError;
use crate::http::{middleware, openapi, rate_limit, routes};
use crate::services::{Services, StartError};

/// State shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    services: Services,
    metrics: PrometheusHandle,
    shutting_down: AtomicBool,
    cors_origins: Vec<HeaderValue>,
    public_url_is_https: bool,
}

impl AppState {
    /// Assembles the state from validated settings and an open pool; fails on keys or
    /// addresses that do not work.
    pub fn new(settings: Settings, db: PgPool) -> Result<Self, StartError> {
        let cors_origins = settings
            .config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        let public_url_is_https = settings.config.public_url.starts_with("https://");
        Ok(Self(Arc::new(Inner {
            services: Services::new(settings, db)?,
            metrics: crate::telemetry::metrics_handle(),
            shutting_down: AtomicBool::new(false),
            cors_origins,
            public_url_is_https,
        })))
    }

    /// The domain services.
    pub fn services(&self) -> &Services {
        &self.0.services
    }

    /// The validated settings.
    pub fn settings(&self) -> &Settings {
        &self.0.services.settings
    }

    /// The database pool.
    pub fn db(&self) -> &PgPool {
        &self.0.services.db
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
        self.0.public_url_is_https
    }
}

/// The complete router with its middleware, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, document) = openapi::routes().split_for_parts();
    // Swagger UI is vendored into the binary; its page needs scripts and styles from itself.
    let docs: Router<AppState> = Router::from(SwaggerUi::new("/docs").url("/openapi.json", document))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ));
    with_middleware(api.merge(docs).merge(routes::pages::router()), state)
}

/// Wraps routes in the service's middleware stack and gives them the state. The layers
/// run outside in: request context (id, span, log, metrics, problem bodies), panic
/// catcher, CORS, rate limits, the request timeout, and the body limit closest to the
/// handlers.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let config = &state.settings().config;
    let body_limit = usize::try_from(config.body_limit).unwrap_or(usize::MAX);
    let timeout = Duration::from_secs(config.request_timeout);
    routes
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(from_fn_with_state(state.clone(), rate_limit::rate_limit))
        .layer(from_fn_with_state(state.clone(), middleware::cors))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state)
}

/// Starts the service: creates and migrates the database, then serves until SIGTERM or
/// SIGINT, draining in-flight requests.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    warn_about_development_keys(&settings);
    let config = &settings.config;
    let url = config.database_url.expose();
    db::ensure_database(url).await?;
    let pool = db::connect(url, pool_settings(&settings)).await?;
    db::migrate_up(&pool).await?;

    let listener = TcpListener::bind(config.bind_addr)
        .await
        .with_context(|| format!("cannot listen on BIND_ADDR={}", config.bind_addr))?;
    let drain = Duration::from_secs(config.shutdown_timeout);
    let state = AppState::new(settings, pool)?;
    crate::auth::registration::bootstrap_admin(state.services())
        .await
        .map_err(|e| anyhow::anyhow!("BOOTSTRAP_ADMIN_EMAIL: {e}"))?;
    let outbox = OutboxWorker::start(&state)?;
    tracing::info!(addr = %listener.local_addr()?, "gatehouse listening");

    let signalled = state.clone();
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: draining in-flight requests");
        signalled.begin_shutdown();
    };
    serve(listener, router(state.clone()), shutdown, drain).await?;
    outbox.stop().await;
    state.services().reserved.close().await;
    state.db().close().await;
    tracing::info!("gatehouse stopped");
    Ok(())
}

/// The email outbox worker running in the background of this process.
pub struct OutboxWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl OutboxWorker {
    /// Starts delivering queued mail.
    pub fn start(state: &AppState) -> Result<Self, StartError> {
        let worker = state.services().outbox_worker()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(worker.run(stopped));
        Ok(Self { stop, task })
    }

    /// Stops after the message being delivered, if any (waits at most 20 s).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .is_err()
        {
            tracing::warn!("email outbox worker did not stop in time");
        }
    }
}

/// Pool settings from the configuration.
pub fn pool_settings(settings: &Settings) -> db::PoolSettings {
    db::PoolSettings {
        max_connections: settings.config.database_max_connections,
        acquire_timeout: Duration::from_secs(settings.config.database_acquire_timeout),
    }
}

/// Serves `router` until `shutdown` completes, then stops accepting connections and waits
/// at most `drain` for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let (began, mut began_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = began.send(true);
    })
    .into_future();

    let deadline = async move {
        let _ = began_rx.wait_for(|began| *began).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!(seconds = drain.as_secs(), "shutdown timeout: abandoning requests still in flight");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

fn warn_about_development_keys(settings: &Settings) {
    let defaults = &settings.keys.development_defaults;
    if defaults.is_empty() {
        return;
    }
    tracing::warn!(
        settings = ?defaults,
        "DEVELOPMENT KEYS IN USE: these settings fell back to fixed, publicly known keys. \
         Anyone can forge tokens and read encrypted data. Never expose this instance; \
         set GATEHOUSE_ENV=production with real keys for any real deployment."
    );
}
