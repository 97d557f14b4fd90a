//! An open-loop probe: requests sent on a fixed schedule whatever happens, each latency
//! measured from its scheduled send time, so a stalled server cannot hide its queue (no
//! coordinated omission).

use std::time::{Duration, Instant};

use crate::report::Figures;

/// Sends `GET url` with `token` at `rate` per second for `duration`.
pub async fn run(url: &str, token: &str, rate: u32, duration: Duration) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let count = (f64::from(rate) * duration.as_secs_f64()) as u32;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..count {
        let scheduled = start + interval * k;
        tokio::time::sleep_until(scheduled.into()).await;
        let request = client.get(url).bearer_auth(token);
        tasks.spawn(async move {
            let ok = request
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            (scheduled.elapsed(), ok)
        });
    }
    let mut latencies = Vec::with_capacity(count as usize);
    let mut errors = 0;
    while let Some(Ok((latency, ok))) = tasks.join_next().await {
        latencies.push(latency.as_secs_f64() * 1000.0);
        if !ok {
            errors += 1;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    Figures {
        requests_per_second: latencies.len() as f64 / duration.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        errors,
        requests: latencies.len() as u64,
    }
}
