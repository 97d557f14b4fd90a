//! The rate limiter under a flood of distinct keys: a second server with limits on (the
//! in-process store, no Redis) behind a trusted proxy, first with one client, then with a
//! new IPv6 /64 on every request until at least a million keys were charged, then measured
//! again. Flat means the last row runs like the first and the memory stops growing at the
//! store's bound.

use std::path::Path;
use std::time::Duration;

use crate::report::Figures;
use crate::wrk;

/// What the flood measured.
pub struct Flood {
    pub one_client: Figures,
    pub first_new: Figures,
    pub after_flood: Figures,
    pub keys: u64,
    pub rss_one_client_mb: f64,
    pub rss_after_flood_mb: f64,
}

/// Runs the three phases against `base`, a server whose process is `pid`.
pub async fn run(
    work: &Path,
    base: &str,
    pid: u32,
    connections: usize,
    duration: Duration,
    keys_wanted: u64,
) -> anyhow::Result<Flood> {
    let one_client = wrk::run_with(work, "one-client", base, connections, duration, &[]).await?;
    let rss_one_client_mb = rss_mb(pid, "VmRSS:").await;
    let mut run = 0u32;
    let mut next = |phase_duration| {
        run += 1;
        let tag = run.to_string();
        async move {
            wrk::run_with(
                work,
                "new-clients",
                base,
                connections,
                phase_duration,
                &[&tag],
            )
            .await
        }
    };
    let first_new = next(duration).await?;
    let mut keys = first_new.requests;
    let mut errors = first_new.errors;
    while keys < keys_wanted {
        let fill = next(Duration::from_secs(5).min(duration)).await?;
        keys += fill.requests;
        errors += fill.errors;
    }
    let mut after_flood = next(duration).await?;
    keys += after_flood.requests;
    after_flood.errors += errors;
    Ok(Flood {
        one_client,
        first_new,
        after_flood,
        keys,
        rss_one_client_mb,
        rss_after_flood_mb: rss_mb(pid, "VmRSS:").await,
    })
}

/// A line of `/proc/PID/status` in MB (`VmRSS:` now, `VmHWM:` the peak).
pub async fn rss_mb(pid: u32, field: &str) -> f64 {
    let status = tokio::fs::read_to_string(format!("/proc/{pid}/status"))
        .await
        .unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
