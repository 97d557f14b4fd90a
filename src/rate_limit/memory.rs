//! The in-process store: GCRA buckets and failed-login counters in sharded maps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::gcra::{self, KeyOutcome, Limit};
use super::slowdown::Slowdown;

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    buckets: HashMap<String, f64>,
    failures: HashMap<String, (u32, f64)>,
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
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
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

    /// Decides a request against its buckets (all in one shard lock each, in key order).
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
                    .and_then(|s| s.buckets.get(key).copied());
                (tat, *limit)
            })
            .collect();
        let (allowed, outcomes) = gcra::decide(now, &stored);
        if allowed {
            for ((key, _), outcome) in keys.iter().zip(&outcomes) {
                if let Ok(mut shard) = self.shard(key).lock() {
                    let entry = shard.buckets.entry(key.clone()).or_insert(0.0);
                    *entry = entry.max(outcome.tat_ms);
                    if shard.buckets.len() > 4096 {
                        // Forget buckets that have fully drained: they hold no information.
                        shard.buckets.retain(|_, tat| *tat > now);
                    }
                }
            }
        }
        (allowed, outcomes)
    }

    /// Milliseconds for which logins under `key` are refused, if any.
    pub fn blocked_ms(&self, key: &str) -> Option<f64> {
        let now = self.now_ms();
        let shard = self.shard(key).lock().ok()?;
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
        let entry = shard.failures.entry(key.to_owned()).or_insert((0, 0.0));
        entry.0 = entry.0.saturating_add(1);
        if let Some(delay) = slowdown.delay_after(entry.0) {
            entry.1 = now + delay.as_millis() as f64;
        }
        let count = entry.0;
        if shard.failures.len() > 4096 {
            let horizon = now - slowdown.max.as_millis() as f64;
            shard.failures.retain(|_, (_, until)| *until > horizon);
        }
        count
    }

    /// Forgets the failures under `key` (a successful login).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut shard) = self.shard(key).lock() {
            shard.failures.remove(key);
        }
    }
}
