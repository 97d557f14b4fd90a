//! Gatehouse: a user-management service (registration, JWT authentication, profiles, RBAC,
//! administration, audit trail, rate limiting) over HTTP and PostgreSQL.
//!
//! # Layers
//!
//! The modules form one-way layers; each may use the layers below it, never one above:
//!
//! 1. **Leaf**: types and mechanisms with no database and no HTTP: settings, validation,
//!    the domain model, crypto, passwords, tokens, images, mail templates, the permission
//!    table, the rate-limit store, paging, telemetry.
//! 2. **Repos** ([`db`]): all SQL, one module per concept, each function taking an
//!    executor; none begins or commits a transaction.
//! 3. **Services** ([`auth`], [`users`], [`audit`], [`avatars`], [`mailer`]), with what
//!    they share ([`deps`]): each operation owns its transaction and may call any repo,
//!    but never another module's service.
//! 4. **HTTP** ([`http`]): extractors, errors as problem+json, routes, OpenAPI. The only
//!    layer that knows axum.
//! 5. **App** ([`app`], [`cli`]): assembling, starting and stopping the service.
//!
//! `scripts/check-layers` checks this rule (and CI runs it); docs/ARCHITECTURE.md shows
//! where a new feature's files go.

// 1. Leaf.
/// Settings from flags and environment variables, resolved into typed sections.
pub mod config;
/// Field encryption, blind index, random tokens.
pub mod crypto;
/// Avatar images: checks and re-encoding on a bounded pool.
pub mod images;
/// Outgoing mail: templates and transports.
pub mod mail;
/// The domain's types: users, their inputs, listings, audit events.
pub mod model;
/// Page numbers and sizes of listings.
pub mod paging;
/// Password rules and Argon2id hashing on dedicated threads.
pub mod passwords;
/// Rate limits and the failed-login slowdown: the mechanism and its stores.
pub mod rate_limit;
/// The permission table.
pub mod rbac;
/// Facts about the request behind a change.
pub mod request;
/// A wrapper that keeps secrets out of logs.
pub mod secret;
/// Logging and metrics.
pub mod telemetry;
/// Enumerations stored and sent as text.
pub mod text_enum;
/// Access tokens (JWT) and the JWKS.
pub mod tokens;
/// Field problems of refused input.
pub mod validation;

// 2. Repos.
/// PostgreSQL: pool, migrations, and the SQL of every concept.
pub mod db;

// 3. Services.
/// Reading the audit trail.
pub mod audit;
/// Authentication: login, sessions, tokens, verification, recovery.
pub mod auth;
/// Avatars: upload, removal, serving.
pub mod avatars;
/// What the services share.
pub mod deps;
/// The background worker that delivers queued mail.
pub mod mailer;
/// Users: accounts, one's own account and sessions, administration.
pub mod users;

// 4. HTTP.
/// The HTTP layer: errors, extractors, middleware, routes, OpenAPI.
pub mod http;

// 5. App.
/// The application state, router and server life cycle.
pub mod app;
/// The command line.
pub mod cli;
