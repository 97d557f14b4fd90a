//! Moving users in and out at scale: one NDJSON file of users with bcrypt hashes (cost 12,
//! as a Rails or Laravel export would have) imported through `POST /users/import` while
//! `GET /users/me` runs under load beside it, the service's memory sampled throughout;
//! then the export of every user through `GET /users/export`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::keys::rss_mb;
use crate::report::Figures;
use crate::wrk;

/// A bcrypt hash of cost 12, made by Python's `bcrypt` (tests/fixtures/hashes.json): an
/// import only checks a hash's format; the cost is paid at each user's first login.
fn bcrypt_hash() -> anyhow::Result<String> {
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../tests/fixtures/hashes.json"))?;
    fixtures
        .iter()
        .find(|f| f["scheme"] == "bcrypt" && f["slow"] == true)
        .and_then(|f| f["hash"].as_str())
        .map(str::to_owned)
        .context("no bcrypt fixture of cost 12")
}

/// The median time of 15 failed logins, each for another address `{prefix}{n}@bench.example`.
async fn failed_logins(client: &reqwest::Client, base: &str, prefix: &str) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for n in 0..15 {
        let body = serde_json::json!({
            "email": format!("{prefix}{n}@bench.example"),
            "password": "not the password of anyone",
        });
        let started = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 401,
            "a failed login answered {}",
            response.status()
        );
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// What the scenario measured.
pub struct Measured {
    pub users: usize,
    pub import_rate: f64,
    pub import_secs: f64,
    pub created: u64,
    pub peak_rss_mb: f64,
    pub rss_before_mb: f64,
    pub me_during: Figures,
    pub export_rate: f64,
    pub export_lines: usize,
    /// Median failed-login times (ms): an unknown address before any bcrypt check, an
    /// imported bcrypt user with a wrong password, an unknown address after.
    pub failed_login_ms: [f64; 3],
}

/// Imports `users` users, with `/users/me` under load for `me_duration` meanwhile, then
/// exports every user.
pub async fn run(
    work: &Path,
    base: &str,
    pid: u32,
    admin_token: &str,
    users: usize,
    me_access: &Path,
    me_duration: Duration,
) -> anyhow::Result<Measured> {
    let hash = bcrypt_hash()?;
    let mut body = Vec::with_capacity(users * 160);
    for n in 0..users {
        let line = serde_json::json!({
            "email": format!("imported{n}@bench.example"),
            "name": format!("Imported User {n}"),
            "password_hash": hash,
            "external_id": format!("legacy:{n}"),
        });
        serde_json::to_writer(&mut body, &line)?;
        body.push(b'\n');
    }
    let client = reqwest::Client::new();
    let rss_before_mb = rss_mb(pid, "VmRSS:").await;
    // The service's resident memory every 50 ms while the import runs, its peak in KiB.
    let peak_kib = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampling = {
        let peak_kib = peak_kib.clone();
        tokio::spawn(async move {
            loop {
                let kib = (rss_mb(pid, "VmRSS:").await * 1024.0) as u64;
                peak_kib.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let me = {
        let (work, base, access) = (work.to_owned(), base.to_owned(), me_access.to_owned());
        tokio::spawn(async move { wrk::run(&work, "me", &base, 50, me_duration, &[&access]).await })
    };
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/users/import"))
        .bearer_auth(admin_token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let report: serde_json::Value = response.json().await?;
    let import_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(status == 200, "import answered {status}: {report}");
    let me_during = me.await??;
    sampling.abort();
    let peak_rss_mb = peak_kib.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0;
    let created = report["created"].as_u64().unwrap_or_default();

    let started = Instant::now();
    let mut response = client
        .get(format!("{base}/api/v1/users/export"))
        .bearer_auth(admin_token)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "export answered {}",
        response.status()
    );
    let mut export_lines = 0;
    while let Some(chunk) = response.chunk().await? {
        export_lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let export_secs = started.elapsed().as_secs_f64();

    // Failed logins one at a time (no queue): does an imported account stand out?
    let unknown_before = failed_logins(&client, base, "nobody-before").await?;
    let imported = failed_logins(&client, base, "imported").await?;
    let unknown_after = failed_logins(&client, base, "nobody-after").await?;
    Ok(Measured {
        failed_login_ms: [unknown_before, imported, unknown_after],
        users,
        import_rate: created as f64 / import_secs,
        import_secs,
        created,
        peak_rss_mb,
        rss_before_mb,
        me_during,
        export_rate: export_lines as f64 / export_secs,
        export_lines,
    })
}
