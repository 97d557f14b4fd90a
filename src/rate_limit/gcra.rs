//! The generic cell rate algorithm (GCRA): a leaky bucket kept as one number per key, the
//! theoretical arrival time (TAT) of the next request. A limit of `count` per `period`
//! lets a burst of `count` through, then one request every `period / count`; unlike a
//! fixed window it never lets two bursts through across a window boundary.
//!
//! Times are milliseconds on one clock (the Redis server's, or this process's). The Redis
//! store runs the same arithmetic in Lua; both are checked against each other in tests.

use std::time::Duration;

const EPSILON_MS: f64 = 0.001;

/// A limit: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

impl Limit {
    /// `count` per `period`.
    pub const fn new(count: u32, period: Duration) -> Self {
        Self { count, period }
    }

    fn period_ms(&self) -> f64 {
        self.period.as_millis() as f64
    }

    fn interval_ms(&self) -> f64 {
        self.period_ms() / f64::from(self.count.max(1))
    }
}

/// The state of one key after a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyOutcome {
    /// TAT to store (only stored when the request was allowed).
    pub tat_ms: f64,
    /// Requests left before this limit refuses.
    pub remaining: u32,
    /// Milliseconds until the bucket is full again.
    pub reset_ms: f64,
    /// Milliseconds until one more request would be allowed (0 if one would be now).
    pub retry_ms: f64,
}

/// Decides one request against several limits at once: it is allowed only if every limit
/// allows it, and only then is any bucket charged.
pub fn decide(now_ms: f64, buckets: &[(Option<f64>, Limit)]) -> (bool, Vec<KeyOutcome>) {
    let prepared: Vec<(f64, f64, &Limit)> = buckets
        .iter()
        .map(|(stored, limit)| {
            let tat = stored.unwrap_or(now_ms).max(now_ms);
            (tat, tat + limit.interval_ms(), limit)
        })
        .collect();
    // A microsecond of slack absorbs floating-point rounding at the exact boundary.
    let allowed = prepared
        .iter()
        .all(|(_, new_tat, limit)| new_tat - limit.period_ms() <= now_ms + EPSILON_MS);
    let outcomes = prepared
        .into_iter()
        .map(|(tat, new_tat, limit)| {
            let kept = if allowed { new_tat } else { tat };
            let used = kept - now_ms;
            let remaining = ((limit.period_ms() - used) / limit.interval_ms())
                .floor()
                .max(0.0);
            KeyOutcome {
                tat_ms: kept,
                remaining: remaining as u32,
                reset_ms: used.max(0.0),
                retry_ms: (kept + limit.interval_ms() - limit.period_ms() - now_ms).max(0.0),
            }
        })
        .collect();
    (allowed, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_PER_MINUTE: Limit = Limit::new(10, Duration::from_secs(60));

    /// Runs requests at the given times against one limit; returns which were allowed.
    fn run(limit: Limit, times_ms: &[f64]) -> Vec<bool> {
        let mut tat = None;
        times_ms
            .iter()
            .map(|now| {
                let (allowed, outcomes) = decide(*now, &[(tat, limit)]);
                if allowed {
                    tat = Some(outcomes[0].tat_ms);
                }
                allowed
            })
            .collect()
    }

    #[test]
    fn a_full_burst_passes_then_the_next_is_refused() {
        let allowed = run(TEN_PER_MINUTE, &[0.0; 11]);
        assert_eq!(allowed.iter().filter(|a| **a).count(), 10);
        assert!(!allowed[10]);
    }

    #[test]
    fn the_bucket_refills_one_request_per_interval() {
        let mut times = vec![0.0; 10];
        times.push(5_999.0); // just before one interval (6 s): refused
        times.push(6_000.0); // at one interval: allowed
        times.push(6_001.0); // the refilled slot is used: refused
        let allowed = run(TEN_PER_MINUTE, &times);
        assert_eq!(&allowed[10..], &[false, true, false]);
    }

    #[test]
    fn no_double_burst_across_a_boundary() {
        // A fixed one-minute window would allow 10 at 59.9 s and 10 more at 60.1 s.
        let mut times = vec![59_900.0; 10];
        times.extend(vec![60_100.0; 10]);
        let allowed = run(TEN_PER_MINUTE, &times);
        assert_eq!(allowed.iter().filter(|a| **a).count(), 10);
    }

    #[test]
    fn remaining_reset_and_retry_after_are_exact() {
        let (allowed, out) = decide(0.0, &[(None, TEN_PER_MINUTE)]);
        assert!(allowed);
        assert_eq!(out[0].remaining, 9);
        assert_eq!(out[0].reset_ms, 6_000.0);
        assert_eq!(out[0].retry_ms, 0.0);

        // Bucket empty: TAT one period ahead.
        let (allowed, out) = decide(0.0, &[(Some(60_000.0), TEN_PER_MINUTE)]);
        assert!(!allowed);
        assert_eq!(out[0].remaining, 0);
        assert_eq!(
            out[0].retry_ms, 6_000.0,
            "the next slot frees up in one interval"
        );
        assert_eq!(out[0].reset_ms, 60_000.0);
    }

    #[test]
    fn a_refusal_by_one_limit_charges_none() {
        let tight = Limit::new(1, Duration::from_secs(60));
        let (allowed, out) = decide(0.0, &[(None, TEN_PER_MINUTE), (Some(60_000.0), tight)]);
        assert!(!allowed);
        assert_eq!(out[0].tat_ms, 0.0, "the loose limit was not charged");
        assert_eq!(out[0].remaining, 10);
    }
}
