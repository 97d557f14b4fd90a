//! The Redis store: the same GCRA and slowdown, atomic in Lua scripts, on the Redis
//! server's clock, so that every instance behind a load balancer shares the limits.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script};

use super::gcra::{KeyOutcome, Limit};
use super::slowdown::Slowdown;

/// Checks every bucket of a request, charges them only if all allow it.
/// KEYS: the buckets; ARGV: period_ms and count for each. Returns
/// `{allowed, remaining_1, reset_ms_1, retry_ms_1, ...}`.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local tat, new_tat, period, interval = {}, {}, {}, {}
local allowed = 1
for i = 1, n do
  period[i] = tonumber(ARGV[2 * i - 1])
  interval[i] = period[i] / tonumber(ARGV[2 * i])
  local current = now
  local stored = tonumber(redis.call('GET', KEYS[i]))
  if stored and stored > now then current = stored end
  tat[i] = current
  new_tat[i] = current + interval[i]
  if new_tat[i] - period[i] > now + 0.001 then allowed = 0 end
end
local out = {allowed}
for i = 1, n do
  local kept = tat[i]
  if allowed == 1 then
    kept = new_tat[i]
    redis.call('SET', KEYS[i], string.format('%.3f', kept), 'PX', math.max(1, math.ceil(kept - now)))
  end
  local used = kept - now
  local remaining = math.floor((period[i] - used) / interval[i])
  if remaining < 0 then remaining = 0 end
  local retry = kept + interval[i] - period[i] - now
  if retry < 0 then retry = 0 end
  table.insert(out, remaining)
  table.insert(out, math.ceil(used))
  table.insert(out, math.ceil(retry))
end
return out
";

/// Counts a failed login and sets the block once the count reaches the threshold.
/// KEYS: count key, block key; ARGV: after, max delay ms, count ttl ms. Returns the count.
const FAIL: &str = r"
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local after = tonumber(ARGV[1])
if count >= after then
  local delay = 1000 * (2 ^ math.min(count - after, 40))
  local max = tonumber(ARGV[2])
  if delay > max then delay = max end
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(delay))
end
return count
";

/// How long until fewer than `budget` events of the sliding window remain (0: fewer remain
/// now). KEYS: the window; ARGV: window ms, budget. Events older than the window go.
const WINDOW_WAIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < budget then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], n - budget, n - budget, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
";

/// Adds an event to a sliding window, keeping at most `budget` of them (older ones do not
/// change any answer). KEYS: the window; ARGV: window ms, budget, a unique member.
const WINDOW_ADD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[1], window)
return 1
";

/// How long a Redis call may take before the in-process store answers instead.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// Limits kept in Redis.
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    check: Script,
    fail: Script,
    window_wait: Script,
    window_add: Script,
}

impl RedisStore {
    /// Prepares the store; the connection is made on first use and re-made after failures.
    pub fn new(url: &str, prefix: &str) -> RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            prefix: prefix.to_owned(),
            check: Script::new(CHECK),
            fail: Script::new(FAIL),
            window_wait: Script::new(WINDOW_WAIT),
            window_add: Script::new(WINDOW_ADD),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Decides a request against its buckets.
    pub async fn check(&self, keys: &[(String, Limit)]) -> RedisResult<(bool, Vec<KeyOutcome>)> {
        let mut invocation = self.check.prepare_invoke();
        for (key, limit) in keys {
            invocation
                .key(self.key(key))
                .arg(limit.period.as_millis() as u64)
                .arg(limit.count);
        }
        let mut connection = self.connection.clone();
        let values: Vec<i64> = invocation.invoke_async(&mut connection).await?;
        let allowed = values.first().copied() == Some(1);
        let outcomes = values
            .get(1..)
            .unwrap_or_default()
            .chunks(3)
            .map(|chunk| KeyOutcome {
                tat_ms: 0.0,
                remaining: u32::try_from(chunk.first().copied().unwrap_or(0)).unwrap_or(0),
                reset_ms: chunk.get(1).copied().unwrap_or(0) as f64,
                retry_ms: chunk.get(2).copied().unwrap_or(0) as f64,
            })
            .collect();
        Ok((allowed, outcomes))
    }

    /// Milliseconds for which logins under `key` are refused, if any.
    pub async fn blocked_ms(&self, key: &str) -> RedisResult<Option<f64>> {
        let mut connection = self.connection.clone();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(self.key(&format!("{key}:block")))
            .query_async(&mut connection)
            .await?;
        Ok((ttl > 0).then_some(ttl as f64))
    }

    /// Counts a failed login; returns the new count.
    pub async fn failed(&self, key: &str, slowdown: &Slowdown) -> RedisResult<u32> {
        let mut connection = self.connection.clone();
        // Failures are forgotten a day after the last one (or at the first success).
        let count: i64 = self
            .fail
            .key(self.key(&format!("{key}:count")))
            .key(self.key(&format!("{key}:block")))
            .arg(slowdown.after)
            .arg(slowdown.max.as_millis() as u64)
            .arg(86_400_000_u64)
            .invoke_async(&mut connection)
            .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Forgets the failures under `key`.
    pub async fn succeeded(&self, key: &str) -> RedisResult<()> {
        let mut connection = self.connection.clone();
        redis::cmd("DEL")
            .arg(self.key(&format!("{key}:count")))
            .arg(self.key(&format!("{key}:block")))
            .query_async::<()>(&mut connection)
            .await
    }

    /// Milliseconds until the sliding window `key` holds fewer than `budget` events
    /// (`None`: it does now).
    pub async fn window_wait_ms(
        &self,
        key: &str,
        budget: u32,
        window: Duration,
    ) -> RedisResult<Option<f64>> {
        let mut connection = self.connection.clone();
        let wait: i64 = self
            .window_wait
            .key(self.key(key))
            .arg(window.as_millis() as u64)
            .arg(budget)
            .invoke_async(&mut connection)
            .await?;
        Ok((wait > 0).then_some(wait as f64))
    }

    /// Adds an event to the sliding window `key`.
    pub async fn window_add(&self, key: &str, budget: u32, window: Duration) -> RedisResult<()> {
        let mut connection = self.connection.clone();
        let unique = uuid::Uuid::now_v7().simple().to_string();
        self.window_add
            .key(self.key(key))
            .arg(window.as_millis() as u64)
            .arg(budget)
            .arg(unique)
            .invoke_async::<i64>(&mut connection)
            .await?;
        Ok(())
    }
}
