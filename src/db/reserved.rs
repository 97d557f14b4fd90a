//! Connections kept out of the pool for the one read every authenticated request makes.
//!
//! sqlx pings a connection each time it goes back to its pool, so every pooled query
//! costs two round trips to PostgreSQL. A reserved connection is taken from the pool
//! once (`detach`) and then used directly: one round trip. The reserve is a small pool
//! of its own: a fair semaphore hands out its connections, with the same bounded wait as
//! the pool.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

use super::{PING_AFTER_IDLE, is_unavailable};
use tokio::sync::Semaphore;

/// A query's future, borrowing the connection it runs on.
pub type QueryFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

struct Held {
    connection: PgConnection,
    used: Instant,
}

impl Held {
    /// A connection taken out of `pool` for good.
    async fn from(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            connection: pool.acquire().await?.detach(),
            used: Instant::now(),
        })
    }
}

/// The reserve: at most `size` connections, each opened when first needed.
pub struct Reserved {
    permits: Semaphore,
    idle: std::sync::Mutex<Vec<Held>>,
    size: usize,
    wait: Duration,
}

impl Reserved {
    /// A reserve of `size` connections, for which a request waits at most `wait`.
    pub fn new(size: usize, wait: Duration) -> Self {
        Self {
            permits: Semaphore::new(size),
            idle: std::sync::Mutex::new(Vec::with_capacity(size)),
            size,
            wait,
        }
    }

    /// Runs `query` on a reserved connection (on one from `pool` if the reserve is empty).
    ///
    /// A missing connection is taken from the pool. A reserved connection that turns out
    /// to be broken (the database restarted or cut it) is dropped and the query runs once
    /// more on a fresh one, so `query` must be safe to repeat: a read.
    pub async fn run<T, F>(&self, pool: &PgPool, query: F) -> Result<T, sqlx::Error>
    where
        F: for<'c> Fn(&'c mut PgConnection) -> QueryFuture<'c, T>,
    {
        if self.size == 0 {
            let mut connection = pool.acquire().await?;
            return query(&mut connection).await;
        }
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if let Some(mut held) = reused {
            let alive =
                held.used.elapsed() <= PING_AFTER_IDLE || held.connection.ping().await.is_ok();
            if alive {
                match query(&mut held.connection).await {
                    // Broken: dropped, and the read is repeated on a fresh connection.
                    Err(error) if is_unavailable(&error) => {}
                    done => {
                        self.put_back(held);
                        return done;
                    }
                }
            }
        }
        let mut held = Held::from(pool).await?;
        let result = query(&mut held.connection).await;
        if !result.as_ref().err().is_some_and(is_unavailable) {
            self.put_back(held);
        }
        result
    }

    fn put_back(&self, mut held: Held) {
        held.used = Instant::now();
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(held);
        }
    }

    /// Closes the idle reserved connections politely (at shutdown, after the server has
    /// drained, so none is in use).
    pub async fn close(&self) {
        let idle = self
            .idle
            .lock()
            .map(|mut idle| std::mem::take(&mut *idle))
            .unwrap_or_default();
        for held in idle {
            let _ = held.connection.close().await;
        }
    }

    /// How many reserved connections are open and idle.
    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }
}
