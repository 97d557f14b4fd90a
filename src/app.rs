//! The application: the router with its middleware, and the server's life cycle from
//! start to graceful shutdown.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_swagger_ui::{SwaggerUi, Url};

use crate::config::Settings;
use crate::db;
use crate::http::error::ApiError;
use crate::http::{middleware, openapi, openapi30, rate_limit};
use crate::mail::transport::TransportError;
use crate::mailer::Worker;

pub use crate::http::state::{AppError, AppState};

/// The complete router with its middleware, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, document) = openapi::routes().split_for_parts();
    let version_3_0 = openapi30::convert(&openapi::to_value(&document));
    // Swagger UI is vendored into the binary; its page needs scripts and styles from itself.
    // It offers both documents; 3.1 first.
    let swagger = SwaggerUi::new("/docs")
        .url(
            Url::with_primary("OpenAPI 3.1", "/openapi.json", true),
            document,
        )
        .external_url_unchecked(Url::new("OpenAPI 3.0", "/openapi-3.0.json"), version_3_0);
    let docs: Router<AppState> = Router::from(swagger)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ));
    with_middleware(api.merge(docs), state)
}

/// Wraps routes in the service's middleware stack and gives them the state. The layers
/// run outside in: request context (id, span, log, metrics, problem bodies), panic
/// catcher, CORS, rate limits, the request timeout, and the body limit closest to the
/// handlers.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let server = &state.settings().server;
    let (body_limit, timeout) = (server.body_limit, server.request_timeout);
    routes
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(timeout, middleware::timeout))
        .layer(from_fn_with_state(state.clone(), rate_limit::per_ip))
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
    let url = settings.database.url.expose();
    db::ensure_database(url).await?;
    let pool = db::connect(url, db::PoolSettings::from(&settings.database)).await?;
    db::migrate_up(&pool).await?;

    let bind_addr = settings.server.bind_addr;
    let listener = TcpListener::bind(bind_addr)
        .await
        .with_context(|| format!("cannot listen on BIND_ADDR={bind_addr}"))?;
    let drain = settings.server.shutdown_timeout;
    let state = AppState::new(settings, pool)?;
    crate::users::accounts::bootstrap_admin(state.deps())
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the bootstrap admin: {e}"))?;
    let learning = state.clone();
    state.deps().background.spawn(async move {
        crate::auth::login::learn_hash_costs(learning.deps()).await;
    });
    let outbox = OutboxWorker::start(&state)?;
    tracing::info!(addr = %listener.local_addr()?, "gatehouse listening");

    let signalled = state.clone();
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: draining in-flight requests");
        signalled.begin_shutdown();
    };
    serve(listener, router(state.clone()), shutdown, drain).await?;
    // Work that answered requests left behind (reset mails) finishes before the pool closes.
    if tokio::time::timeout(drain, state.deps().background.idle())
        .await
        .is_err()
    {
        tracing::warn!("shutdown timeout: abandoning background work");
    }
    outbox.stop().await;
    state.deps().reserved.close().await;
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
    pub fn start(state: &AppState) -> Result<Self, TransportError> {
        let worker = Worker::new(state.deps())?;
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
