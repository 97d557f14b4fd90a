//! Gatehouse: a user-management service (registration, JWT authentication, profiles, RBAC,
//! administration, audit trail, rate limiting) over HTTP and PostgreSQL.

/// The application state, router and server life cycle.
pub mod app;
/// The audit trail.
pub mod audit;
/// Authentication: registration, login, sessions, tokens, recovery.
pub mod auth;
/// Avatars: image checks, re-encoding, storage.
pub mod avatars;
/// The command line.
pub mod cli;
/// Settings from flags and environment variables.
pub mod config;
/// Field encryption, blind index, random tokens.
pub mod crypto;
/// PostgreSQL pool and migrations.
pub mod db;
/// Outgoing email: templates, outbox, worker.
pub mod email;
/// The HTTP layer: errors, extractors, middleware, routes, OpenAPI.
pub mod http;
/// Page numbers and sizes of listings.
pub mod paging;
/// Rate limits and the failed-login slowdown.
pub mod rate_limit;
/// The permission table.
pub mod rbac;
/// Facts about the request behind a change.
pub mod request;
/// A wrapper that keeps secrets out of logs.
pub mod secret;
/// The domain's dependencies.
pub mod services;
/// Logging and metrics.
pub mod telemetry;
/// Users: model and SQL.
pub mod users;
