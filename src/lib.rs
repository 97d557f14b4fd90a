//! Gatehouse: a user-management service (registration, JWT authentication, profiles, RBAC,
//! administration, audit trail, rate limiting) over HTTP and PostgreSQL.
//!
//! # Layers
//!
//! The modules form one-way layers; each may use the layers below it, never one above:
//!
//! 1. **Leaf**: types and mechanisms with no database and no HTTP: settings, validation,
//!    the domain model, crypto, passwords, tokens, images, mail templates, two-step sign-in
//!    codes, the permission table, the rate-limit store, paging, telemetry.
//! 2. **Repos** ([`db`]): all SQL, one module per concept, each function taking an
//!    executor; none begins or commits a transaction.
//! 3. **Shared by the services** ([`deps`]): what every service function takes.
//! 4. **Services** ([`auth`], [`users`], [`audit`], [`avatars`], [`mailer`]): each
//!    operation owns its transaction and may call any repo, but never another module's
//!    service.
//! 5. **HTTP** ([`http`]): extractors, errors as problem+json, routes, OpenAPI. The only
//!    layer that knows axum.
//! 6. **App** ([`app`], [`cli`]): assembling, starting and stopping the service.
//!
//! The `// Layer N` headings below place each module; the test `layers` (in
//! tests/api/layers.rs, part of `cargo test`) fails on an import against the rule and
//! names it. docs/ARCHITECTURE.md shows where a new feature's files go.

// Layer 1: leaf (may import other leaf modules, without cycles).
/// Settings from flags and environment variables, resolved into typed sections.
pub mod config;
/// Field encryption, blind index, random tokens.
pub mod crypto;
/// Avatar images: checks and re-encoding on a bounded pool.
pub mod images;
/// Outgoing mail: templates and transports.
pub mod mail;
/// Two-step sign-in, the mechanism: TOTP codes, recovery codes, the otpauth URI and QR.
pub mod mfa;
/// The domain's types: users, their inputs, listings, audit events.
pub mod model;
/// Page numbers and sizes of listings.
pub mod paging;
/// Passkeys (WebAuthn), the relying party: ceremony options and the checks of answers.
pub mod passkeys;
/// Password hashes imported from other systems: formats, bounds and verification.
pub mod password_formats;
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

// Layer 2: repos.
/// PostgreSQL: pool, migrations, and the SQL of every concept.
pub mod db;

// Layer 3: shared by the services.
/// What the services share.
pub mod deps;

// Layer 4: services (isolated: never import one another).
/// Reading the audit trail.
pub mod audit;
/// Authentication: login, sessions, tokens, verification, recovery.
pub mod auth;
/// Avatars: upload, removal, serving.
pub mod avatars;
/// The background worker that delivers queued mail.
pub mod mailer;
/// Users: accounts, one's own account and sessions, administration.
pub mod users;

// Layer 5: http.
/// The HTTP layer: errors, extractors, middleware, routes, OpenAPI.
pub mod http;

// Layer 6: app.
/// The application state, router and server life cycle.
pub mod app;
/// The command line.
pub mod cli;
