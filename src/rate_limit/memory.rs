//! The in-process store: GCRA buckets, failed-login counters and sliding windows, in
//! sharded maps of bounded size.
//!
//! Each map holds at most [`KEYS_PER_SHARD`] keys per shard and forgets the least recently
//! used one to make room, in constant time: a flood of distinct keys (one client rotating
//! through addresses) neither grows the process nor makes any request scan a map. The
//! price of the bound: under such a flood, an idle key can be forgotten early, which
//! errs on the side of letting a request through.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::gcra::{self, KeyOutcome, Limit};
use super::slowdown::Slowdown;

const SHARDS: usize = 16;
/// Keys kept per shard and per kind (buckets, failure counters, windows): 65,536 each in
/// all, a few megabytes at most.
pub const KEYS_PER_SHARD: usize = 4096;

struct Shard {
    buckets: LruCache<String, f64>,
    /// Consecutive failures and the time before which attempts are refused.
    failures: LruCache<String, (u32, f64)>,
    /// The times of the most recent events of each sliding window, oldest first.
    windows: LruCache<String, VecDeque<f64>>,
}

impl Shard {
    fn new() -> Self {
        let capacity = NonZeroUsize::new(KEYS_PER_SHARD).unwrap_or(NonZeroUsize::MIN);
        Self {
            buckets: LruCache::new(capacity),
            failures: LruCache::new(capacity),
            windows: LruCache::new(capacity),
        }
    }
}

/// Limits kept in this process (the default, and the fallback when Redis is unreachable).
pub struct MemoryStore {
    started: Instant,
    shards: Vec<Mutex<Shard>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
        }
    }
}

impl MemoryStore {
    fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        // FNV-1a: cheap and good enough to spread keys over the shards.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    /// Decides a request against its buckets.
    pub fn check(&self, keys: &[(String, Limit)]) -> (bool, Vec<KeyOutcome>) {
        let now = self.now_ms();
        // Keys of one request may sit in different shards; lock them one at a time, which
        // is enough: a request's keys are distinct, and a race between two requests on the
        // same key can at worst let one extra request through in the instant they collide.
        let stored: Vec<(Option<f64>, Limit)> = keys
            .iter()
            .map(|(key, limit)| {
                let tat = self
                    .shard(key)
                    .lock()
                    .ok()
                    .and_then(|mut s| s.buckets.get(key).copied());
                (tat, *limit)
            })
            .collect();
        let (allowed, outcomes) = gcra::decide(now, &stored);
        if allowed {
            for ((key, _), outcome) in keys.iter().zip(&outcomes) {
                if let Ok(mut shard) = self.shard(key).lock() {
                    let tat = shard.buckets.get(key).copied().unwrap_or(0.0);
                    shard.buckets.put(key.clone(), tat.max(outcome.tat_ms));
                }
            }
        }
        (allowed, outcomes)
    }

    /// Milliseconds for which logins under `key` are refused, if any.
    pub fn blocked_ms(&self, key: &str) -> Option<f64> {
        let now = self.now_ms();
        let mut shard = self.shard(key).lock().ok()?;
        shard
            .failures
            .get(key)
            .map(|(_, until)| until - now)
            .filter(|left| *left > 0.0)
    }

    /// Counts a failed login; returns the new count.
    pub fn failed(&self, key: &str, slowdown: &Slowdown) -> u32 {
        let now = self.now_ms();
        let Ok(mut shard) = self.shard(key).lock() else {
            return 0;
        };
        let (mut count, mut until) = shard.failures.get(key).copied().unwrap_or((0, 0.0));
        count = count.saturating_add(1);
        if let Some(delay) = slowdown.delay_after(count) {
            until = now + delay.as_millis() as f64;
        }
        shard.failures.put(key.to_owned(), (count, until));
        count
    }

    /// Forgets the failures under `key` (a successful login).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut shard) = self.shard(key).lock() {
            shard.failures.pop(key);
        }
    }

    /// Milliseconds until the sliding window `key` holds fewer than `budget` events within
    /// `window` (`None`: it does now).
    pub fn window_wait_ms(&self, key: &str, budget: u32, window: Duration) -> Option<f64> {
        let now = self.now_ms();
        let window_ms = window.as_millis() as f64;
        let mut shard = self.shard(key).lock().ok()?;
        let events = shard.windows.get_mut(key)?;
        while events.front().is_some_and(|at| *at <= now - window_ms) {
            events.pop_front();
        }
        let budget = usize::try_from(budget).unwrap_or(usize::MAX);
        if events.len() < budget {
            return None;
        }
        // Fewer than `budget` remain once the oldest that keeps the count at the budget
        // leaves the window.
        let index = events.len() - budget;
        events.get(index).map(|at| (at + window_ms - now).max(1.0))
    }

    /// Adds an event to the sliding window `key`; only the newest `budget` are kept.
    pub fn window_add(&self, key: &str, budget: u32) {
        let now = self.now_ms();
        let Ok(mut shard) = self.shard(key).lock() else {
            return;
        };
        let budget = usize::try_from(budget).unwrap_or(usize::MAX).max(1);
        let mut events = shard.windows.pop(key).unwrap_or_default();
        events.push_back(now);
        while events.len() > budget {
            events.pop_front();
        }
        shard.windows.put(key.to_owned(), events);
    }

    /// Keys held, of every kind: bounded by the shards' capacity (what the tests check).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|shard| shard.lock().ok())
            .map(|shard| shard.buckets.len() + shard.failures.len() + shard.windows.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_distinct_keys_stay_within_the_bound() {
        let store = MemoryStore::default();
        let limit = Limit::new(10, Duration::from_secs(60));
        let slowdown = Slowdown {
            after: 5,
            max: Duration::from_secs(900),
        };
        let bound = SHARDS * KEYS_PER_SHARD;
        for n in 0..1_000_000u32 {
            let key = format!("ip:2001:db8:{:x}:{:x}::/64", n >> 16, n & 0xffff);
            assert!(store.check(&[(key.clone(), limit)]).0);
            if n % 10 == 0 {
                store.failed(&key, &slowdown);
                store.window_add(&key, 3);
            }
        }
        let held = store.len();
        assert!(held <= 3 * bound, "{held} keys held, bound {}", 3 * bound);
        // Every map is full: the bound is reached, not merely unused.
        assert!(held > 2 * bound, "{held} keys held");
        // The newest keys are kept; the oldest were forgotten (and count afresh).
        let newest = format!(
            "ip:2001:db8:{:x}:{:x}::/64",
            999_999u32 >> 16,
            999_999u32 & 0xffff
        );
        let (_, outcomes) = store.check(&[(newest, limit)]);
        assert_eq!(outcomes[0].remaining, 8, "the newest key's bucket was kept");
    }

    #[test]
    fn a_window_refuses_at_its_budget_until_the_oldest_that_counts_leaves() {
        let store = MemoryStore::default();
        let window = Duration::from_secs(3600);
        assert_eq!(store.window_wait_ms("w", 3, window), None);
        for _ in 0..2 {
            store.window_add("w", 3);
        }
        assert_eq!(store.window_wait_ms("w", 3, window), None);
        store.window_add("w", 3);
        let wait = store.window_wait_ms("w", 3, window).unwrap_or_default();
        assert!((3_599_000.0..=3_600_000.0).contains(&wait), "{wait}");
        assert_eq!(store.window_wait_ms("w", 4, window), None, "another budget");
        let short = Duration::from_millis(30);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            store.window_wait_ms("w", 3, short),
            None,
            "events left the window"
        );
    }
}
