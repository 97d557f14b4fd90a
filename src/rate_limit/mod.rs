//! Rate limiting: GCRA buckets per client IP (and per email address where the contract
//! asks), and the failed-login slowdown. Kept in process, or in Redis when `REDIS_URL` is
//! set; when Redis cannot be reached the in-process store answers, so the service keeps
//! serving (each instance then enforces the limits alone until Redis is back).

pub mod gcra;
pub mod memory;
pub mod policy;
pub mod redis;
pub mod slowdown;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gcra::{KeyOutcome, Limit};
use memory::MemoryStore;
use policy::Limits;

/// The outcome of a check, described by the limit closest to running out (or, when
/// refused, by the limit that refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until that limit is whole again.
    pub reset_secs: u64,
    /// Seconds to wait before retrying (refusals only).
    pub retry_after_secs: u64,
}

impl Verdict {
    /// Of two verdicts on one request, the one to report: a refusal over an allowance (the
    /// longer wait among refusals), else the limit with the fewest requests left (the
    /// later reset on a tie).
    pub fn closest(self, other: Self) -> Self {
        match (self.allowed, other.allowed) {
            (true, false) => other,
            (false, true) => self,
            (false, false) if other.retry_after_secs > self.retry_after_secs => other,
            (false, false) => self,
            (true, true) => {
                let other_closer = other.remaining < self.remaining
                    || (other.remaining == self.remaining && other.reset_secs > self.reset_secs);
                if other_closer { other } else { self }
            }
        }
    }

    /// A refusal for `wait_secs` seconds under a limit of `count` (the failed-login
    /// slowdown, which is not a bucket).
    pub fn blocked(count: u32, wait_secs: u64) -> Self {
        Self {
            allowed: false,
            limit: count,
            remaining: 0,
            reset_secs: wait_secs,
            retry_after_secs: wait_secs,
        }
    }

    fn from_outcomes(allowed: bool, buckets: &[(String, Limit)], outcomes: &[KeyOutcome]) -> Self {
        let pairs = buckets.iter().map(|(_, limit)| limit).zip(outcomes);
        let chosen = if allowed {
            pairs.min_by(|a, b| {
                a.1.remaining
                    .cmp(&b.1.remaining)
                    .then(b.1.reset_ms.total_cmp(&a.1.reset_ms))
            })
        } else {
            pairs.max_by(|a, b| a.1.retry_ms.total_cmp(&b.1.retry_ms))
        };
        let Some((limit, outcome)) = chosen else {
            return Self {
                allowed,
                limit: 0,
                remaining: 0,
                reset_secs: 0,
                retry_after_secs: 0,
            };
        };
        Self {
            allowed,
            limit: limit.count,
            remaining: if allowed { outcome.remaining } else { 0 },
            reset_secs: (outcome.reset_ms / 1000.0).ceil() as u64,
            retry_after_secs: if allowed {
                0
            } else {
                ((outcome.retry_ms / 1000.0).ceil() as u64).max(1)
            },
        }
    }
}

/// The limiter of this process.
pub struct RateLimiter {
    limits: Limits,
    memory: MemoryStore,
    redis: Option<redis::RedisStore>,
    last_warning: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter with the given limits, in Redis if a store is given.
    pub fn new(limits: Limits, redis: Option<redis::RedisStore>) -> Self {
        Self {
            limits,
            memory: MemoryStore::default(),
            redis,
            last_warning: Mutex::new(None),
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether any limit applies.
    pub fn enabled(&self) -> bool {
        self.limits.enabled
    }

    fn fell_back(&self, error: &dyn std::fmt::Display) {
        metrics::counter!("rate_limit_store_fallbacks_total").increment(1);
        let Ok(mut last) = self.last_warning.lock() else {
            return;
        };
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) {
            *last = Some(Instant::now());
            tracing::warn!(error = %error, "Redis unreachable: rate limits are kept in process until it is back");
        }
    }

    async fn in_redis<T>(&self, call: impl Future<Output = ::redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(redis::CALL_TIMEOUT, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.fell_back(&error);
                None
            }
            Err(_) => {
                self.fell_back(&"timed out");
                None
            }
        }
    }

    /// Decides one request against its buckets, charging them only if all allow it.
    pub async fn check(&self, buckets: &[(String, Limit)]) -> Verdict {
        if let Some(redis) = &self.redis
            && let Some((allowed, outcomes)) = self.in_redis(redis.check(buckets)).await
        {
            return Verdict::from_outcomes(allowed, buckets, &outcomes);
        }
        let (allowed, outcomes) = self.memory.check(buckets);
        Verdict::from_outcomes(allowed, buckets, &outcomes)
    }

    /// Charges a request to `buckets` where limits are on: `Ok(None)` when they are off,
    /// the verdict when the request may go on, `Err` with it when a bucket refuses.
    pub async fn charge(&self, buckets: &[(String, Limit)]) -> Result<Option<Verdict>, Verdict> {
        if !self.enabled() {
            return Ok(None);
        }
        let verdict = self.check(buckets).await;
        if verdict.allowed {
            Ok(Some(verdict))
        } else {
            Err(verdict)
        }
    }

    /// Seconds for which logins under `key` are refused, if any.
    pub async fn login_blocked(&self, key: &str) -> Option<u64> {
        let left = match &self.redis {
            Some(redis) => match self.in_redis(redis.blocked_ms(key)).await {
                Some(left) => left,
                None => self.memory.blocked_ms(key),
            },
            None => self.memory.blocked_ms(key),
        };
        left.map(|ms| ((ms / 1000.0).ceil() as u64).max(1))
    }

    /// Counts a failed login.
    pub async fn login_failed(&self, key: &str) {
        let slowdown = self.limits.slowdown;
        if let Some(redis) = &self.redis
            && self.in_redis(redis.failed(key, &slowdown)).await.is_some()
        {
            return;
        }
        self.memory.failed(key, &slowdown);
    }

    /// Forgets the failures under `key`.
    pub async fn login_succeeded(&self, key: &str) {
        if let Some(redis) = &self.redis {
            self.in_redis(redis.succeeded(key)).await;
        }
        self.memory.succeeded(key);
    }

    /// Seconds until the sliding window `key` holds fewer than `budget` events within
    /// `window` (`None`: it does now).
    pub async fn window_wait(&self, key: &str, budget: u32, window: Duration) -> Option<u64> {
        let wait = match &self.redis {
            Some(redis) => match self
                .in_redis(redis.window_wait_ms(key, budget, window))
                .await
            {
                Some(wait) => wait,
                None => self.memory.window_wait_ms(key, budget, window),
            },
            None => self.memory.window_wait_ms(key, budget, window),
        };
        wait.map(|ms| ((ms / 1000.0).ceil() as u64).max(1))
    }

    /// Adds an event to the sliding window `key` (only the newest `budget` matter).
    pub async fn window_add(&self, key: &str, budget: u32, window: Duration) {
        if let Some(redis) = &self.redis
            && self
                .in_redis(redis.window_add(key, budget, window))
                .await
                .is_some()
        {
            return;
        }
        self.memory.window_add(key, budget);
    }

    /// True at most once a minute per `key`, in this process: limits noisy side effects of
    /// refusals (their audit records) during a flood.
    pub fn first_in_a_while(&self, key: &str) -> bool {
        let once = Limit::new(1, Duration::from_secs(60));
        self.memory.check(&[(format!("noted:{key}"), once)]).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(count: u32) -> RateLimiter {
        RateLimiter::new(
            Limits {
                per_ip: Limit::new(count, Duration::from_secs(60)),
                ..Limits::default()
            },
            None,
        )
    }

    #[tokio::test]
    async fn verdicts_describe_the_closest_limit_and_refusals_say_when_to_retry() {
        let limiter = limiter(3);
        let bucket = |n: u32| vec![("a".to_owned(), Limit::new(n, Duration::from_secs(60)))];
        let first = limiter.check(&bucket(3)).await;
        assert_eq!(
            (
                first.allowed,
                first.limit,
                first.remaining,
                first.reset_secs
            ),
            (true, 3, 2, 20)
        );
        limiter.check(&bucket(3)).await;
        limiter.check(&bucket(3)).await;
        let refused = limiter.check(&bucket(3)).await;
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.retry_after_secs), (0, 20));

        let mixed = limiter
            .check(&[
                ("b".to_owned(), Limit::new(100, Duration::from_secs(60))),
                ("c".to_owned(), Limit::new(2, Duration::from_secs(60))),
            ])
            .await;
        assert_eq!(
            (mixed.limit, mixed.remaining),
            (2, 1),
            "the tighter limit is reported"
        );
    }

    #[test]
    fn the_closest_verdict_is_a_refusal_or_the_fewest_left() {
        let allowed = |remaining, reset_secs| Verdict {
            allowed: true,
            limit: 10,
            remaining,
            reset_secs,
            retry_after_secs: 0,
        };
        assert_eq!(allowed(5, 10).closest(allowed(3, 1)), allowed(3, 1));
        assert_eq!(allowed(3, 10).closest(allowed(3, 20)), allowed(3, 20));
        assert_eq!(allowed(3, 10).closest(allowed(4, 60)), allowed(3, 10));
        let short = Verdict::blocked(5, 2);
        let long = Verdict::blocked(5, 9);
        assert_eq!(allowed(0, 1).closest(short), short);
        assert_eq!(short.closest(allowed(0, 1)), short);
        assert_eq!(short.closest(long), long);
        assert_eq!(long.closest(short), long);
    }

    #[tokio::test]
    async fn the_slowdown_starts_after_five_failures_and_a_success_clears_it() {
        let limiter = limiter(10);
        for _ in 0..4 {
            limiter.login_failed("k").await;
        }
        assert_eq!(limiter.login_blocked("k").await, None);
        limiter.login_failed("k").await;
        assert_eq!(limiter.login_blocked("k").await, Some(1));
        limiter.login_failed("k").await;
        assert_eq!(limiter.login_blocked("k").await, Some(2));
        limiter.login_succeeded("k").await;
        assert_eq!(limiter.login_blocked("k").await, None);
        assert!(limiter.first_in_a_while("x"));
        assert!(!limiter.first_in_a_while("x"));
    }
}
