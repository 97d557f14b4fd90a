//! PostgreSQL: the connection pool, creating the database if missing, the versioned,
//! reversible migrations embedded in the binary, and all the SQL of the service, one
//! module per concept.
//!
//! Every function here takes an executor (`impl PgExecutor`, or `&mut PgConnection` when
//! it runs several statements) and never begins or commits a transaction: the services
//! decide what commits together.

pub mod audit;
pub mod avatars;
pub mod mail;
pub mod mfa;
pub mod one_time;
pub mod outbox;
pub mod passkeys;
pub mod reserved;
pub mod sessions;
pub mod transfer;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres};

/// The migrations of `migrations/`, each with an up and a down script.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Pool sizing and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl From<&crate::config::DatabaseSettings> for PoolSettings {
    fn from(settings: &crate::config::DatabaseSettings) -> Self {
        Self {
            max_connections: settings.max_connections,
            acquire_timeout: settings.acquire_timeout,
        }
    }
}

impl PoolSettings {
    /// How many of `max_connections` are kept out of the pool for the authenticated read
    /// (see [`reserved`]): half, at most eight.
    pub fn reserved(&self) -> usize {
        usize::try_from((self.max_connections / 2).min(8)).unwrap_or(0)
    }
}

/// Where one migration stands in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// What went wrong while reaching or preparing the database; the URL is shown without
/// its password. Messages leave the cause to the error's source, so that a report of the
/// whole chain names it once.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL")]
    BadUrl(#[source] sqlx::Error),
    #[error(
        "the database {url} does not exist; `gatehouse migrate up` (or `gatehouse serve`) creates it"
    )]
    Missing { url: String },
    #[error("cannot reach PostgreSQL at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create database {url}")]
    Create {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// Creates the database named in `url` if it does not exist yet.
pub async fn ensure_database(url: &str) -> Result<(), DbError> {
    let shown = redact_url(url);
    let exists = Postgres::database_exists(url)
        .await
        .map_err(|source| DbError::Unreachable {
            url: shown.clone(),
            source,
        })?;
    if exists {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Ok(()) => {
            tracing::info!(database = %shown, "created database");
            Ok(())
        }
        // Another instance created it between our check and our CREATE.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
        Err(source) => Err(DbError::Create { url: shown, source }),
    }
}

/// A connection idle for longer than this is pinged before use; one used more recently is
/// trusted, since sqlx already pings every connection when it goes back to the pool. The
/// reserved connections follow the same rule.
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

/// Opens the pool. Connections are checked out with a bounded wait so that a database
/// outage turns into quick 503s rather than requests piling up.
///
/// sqlx's default pings every connection on checkout, which is a second round trip on
/// every request (a third counting the ping on release). Only idle connections are
/// pinged here: after a database restart, a busy connection fails the one request that
/// finds it broken (503) and is then discarded on release.
pub async fn connect(url: &str, settings: PoolSettings) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(DbError::BadUrl)?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections - settings.reserved() as u32)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Duration::from_secs(600))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(|source| match &source {
            // 3D000: invalid_catalog_name, the database does not exist.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
                DbError::Missing {
                    url: redact_url(url),
                }
            }
            _ => DbError::Unreachable {
                url: redact_url(url),
                source,
            },
        })
}

/// Applies every pending migration (safe to run from several instances at once: sqlx
/// takes an advisory lock).
pub async fn migrate_up(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Reverts the newest `steps` applied migrations; returns the versions reverted.
pub async fn migrate_down(pool: &PgPool, steps: usize) -> Result<Vec<i64>, DbError> {
    let mut applied: Vec<i64> = status(pool)
        .await?
        .into_iter()
        .filter(|m| m.applied)
        .map(|m| m.version)
        .collect();
    applied.sort_unstable_by(|a, b| b.cmp(a));
    let reverted: Vec<i64> = applied.iter().copied().take(steps).collect();
    let target = applied.get(steps).copied().unwrap_or(0);
    MIGRATOR.undo(pool, target).await?;
    Ok(reverted)
}

/// Every known migration and whether it is applied.
pub async fn status(pool: &PgPool) -> Result<Vec<MigrationState>, DbError> {
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table().await?;
    let applied = conn.list_applied_migrations().await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.iter().any(|a| a.version == m.version),
        })
        .collect())
}

/// The newest migration this binary knows.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// True when the newest applied migration is the newest this binary knows. One cheap
/// query, used by the readiness probe. Checked at run time, not by `query!`: the table is
/// sqlx's own and may not exist yet (42P01), which the offline check cannot describe.
pub async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .or_else(|e| match &e {
                // No migrations table yet: nothing applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                _ => Err(e),
            })?;
    Ok(newest == Some(latest_version()))
}

/// True for failures that mean "the database cannot be reached right now" (503) rather
/// than a bug (500).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // Failures of the connection rather than of the statement: class 08 (connection
        // exceptions), 28 (the server refuses the login), 3D000 (the database is gone),
        // 53 (the server is out of connections, memory or disk), 57P01-57P03 (admin
        // shutdown, crash, cannot connect now).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            ["08", "28", "53"].iter().any(|class| c.starts_with(class))
                || matches!(c.as_ref(), "3D000" | "57P01" | "57P02" | "57P03")
        }),
        sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

/// Whether `error` is a violation of the constraint named `constraint` (a unique key
/// turned into a conflict the caller can name, such as a taken email address).
pub fn violates(error: &sqlx::Error, constraint: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.constraint() == Some(constraint))
}

/// The URL with its password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("redacted"));
            }
            parsed.to_string()
        }
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_shown_urls() {
        let shown = redact_url("postgres://app:hunter2@db:5432/gatehouse");
        assert_eq!(shown, "postgres://app:redacted@db:5432/gatehouse");
        assert_eq!(
            redact_url("postgres://postgres@localhost/x"),
            "postgres://postgres@localhost/x"
        );
    }

    #[test]
    fn every_migration_is_reversible() {
        let ups: Vec<i64> = MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        let downs: Vec<i64> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        assert!(!ups.is_empty());
        assert_eq!(ups, downs);
    }

    #[test]
    fn outages_are_told_apart_from_bugs() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }
}
