//! A few connections kept out of the pool for the one read every authenticated request
//! makes.
//!
//! sqlx pings a connection each time it goes back to its pool, so every pooled query
//! costs two round trips to PostgreSQL. A reserved connection is taken from the pool
//! once (`detach`) and then used directly: one round trip. A request takes a reserved
//! connection only if one is free at that instant and otherwise uses the pool, so the
//! reserve never makes anyone wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Mutex;

/// A reserved connection unused for longer than this is pinged before use, like the
/// pool's idle connections (see `db::connect`).
const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

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

/// The reserve: `size` slots, each empty until first needed.
pub struct Reserved {
    slots: Box<[Mutex<Option<Held>>]>,
    next: AtomicUsize,
}

impl Reserved {
    /// A reserve of `size` connections (none is opened before it is needed).
    pub fn new(size: usize) -> Self {
        Self {
            slots: (0..size).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `query` on a free reserved connection, or else on one from `pool`.
    ///
    /// An empty slot is filled from the pool. A reserved connection that turns out to be
    /// broken (the database restarted or cut it) is dropped and the query runs once more
    /// on a pooled connection, so `query` must be safe to repeat: a read. The slot is
    /// filled again on a later request.
    pub async fn run<T, F>(&self, pool: &PgPool, query: F) -> Result<T, sqlx::Error>
    where
        F: for<'c> Fn(&'c mut PgConnection) -> QueryFuture<'c, T>,
    {
        let size = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..size {
            let Ok(mut slot) = self.slots[(start + offset) % size].try_lock() else {
                continue;
            };
            let mut held = match slot.take() {
                Some(mut held) => {
                    let alive = held.used.elapsed() <= PING_AFTER_IDLE
                        || held.connection.ping().await.is_ok();
                    let result = if alive {
                        query(&mut held.connection).await
                    } else {
                        Err(sqlx::Error::PoolClosed)
                    };
                    match result {
                        Err(error) if super::is_unavailable(&error) => Held::from(pool).await?,
                        done => {
                            held.used = Instant::now();
                            *slot = Some(held);
                            return done;
                        }
                    }
                }
                None => Held::from(pool).await?,
            };
            let result = query(&mut held.connection).await;
            if !result.as_ref().err().is_some_and(super::is_unavailable) {
                held.used = Instant::now();
                *slot = Some(held);
            }
            return result;
        }
        let mut connection = pool.acquire().await?;
        query(&mut connection).await
    }

    /// How many reserved connections are open.
    pub fn open(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.try_lock().map_or(true, |held| held.is_some()))
            .count()
    }
}
