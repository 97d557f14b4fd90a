//! Gatehouse: a user-management service (registration, JWT authentication, profiles, RBAC,
//! administration, audit trail, rate limiting) over HTTP and PostgreSQL.

/// The application state, router and server life cycle.
pub mod app;
/// The command line.
pub mod cli;
/// Settings from flags and environment variables.
pub mod config;
/// PostgreSQL pool and migrations.
pub mod db;
/// The HTTP layer: errors, extractors, middleware, routes, OpenAPI.
pub mod http;
/// A wrapper that keeps secrets out of logs.
pub mod secret;
/// Logging and metrics.
pub mod telemetry;
