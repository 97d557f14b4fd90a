//! The Gatehouse load benchmark: seeds a fresh database, starts the release server with rate
//! limits off, drives each scenario with wrk on loopback, and measures this machine's own
//! limits in the same run (pgbench -S, raw Argon2id, a hello-world on the same HTTP stack).
//! Prints one table and writes `target/bench/results.json`.
//!
//!     scripts/bench [--users N] [--duration SECONDS] [--smoke]

mod keys;
mod mfa;
mod passkey;
mod probe;
mod report;
mod seed;
/// The software authenticator of the tests, which signs the sign-ins of the passkey scenario
/// (the benchmark uses less of it than the tests do).
#[path = "../../tests/api/soft_passkey.rs"]
#[allow(dead_code)]
mod soft_passkey;
mod transfer;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use gatehouse::config::Config;
use gatehouse::deps::Deps;
use report::{Figures, Row};
use serde_json::json;

/// Options.
#[derive(Debug, Parser)]
struct Options {
    /// Seeded users (10,000 by default; 1,000,000 for the large run).
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// The service binary to run.
    #[arg(long, default_value = "target/release/gatehouse")]
    binary: PathBuf,
    /// Tiny run that only checks the benchmark works (CI).
    #[arg(long)]
    smoke: bool,
    /// PostgreSQL server for the scratch databases.
    #[arg(long, default_value = "postgres://postgres@localhost:5432")]
    server: String,
    /// Run only these scenarios (comma-separated: me, login, probe, refresh, mfa, passkey, list,
    /// register, keys); the machine's limits are always measured.
    #[arg(long, value_delimiter = ',',
          value_parser = ["me", "login", "probe", "refresh", "mfa", "passkey", "list", "register", "keys", "transfer"])]
    only: Vec<String>,
    /// Keep the seeded database `gatehouse_bench` afterwards (for EXPLAIN ANALYZE by hand).
    #[arg(long)]
    keep_database: bool,
}

impl Options {
    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

const PORT: u16 = 18_080;
const LIMITED_PORT: u16 = 18_081;
const HELLO_PORT: u16 = 18_090;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = Options::parse();
    if options.smoke {
        options.users = options.users.min(300);
        options.duration = 1;
    }
    let duration = Duration::from_secs(options.duration);
    let work = PathBuf::from("target/bench");
    tokio::fs::create_dir_all(&work).await?;

    let database = "gatehouse_bench";
    let admin_url = format!("{}/postgres", options.server);
    let url = format!("{}/{database}", options.server);
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .context("PostgreSQL must be running")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    run_checked(&options.binary, &["migrate", "up"], &url).await?;

    eprintln!("seeding {} users...", options.users);
    let seeded_at = Instant::now();
    let settings = Config::try_parse_from(["bench", "--database-url", &url])?.validate()?;
    let pool = sqlx::PgPool::connect(&url).await?;
    let deps = Deps::new(settings, pool.clone())?;
    let sessions = if options.smoke { 200 } else { 20_000 };
    let refresh = if options.smoke { 400 } else { 120_000 };
    let seeded = seed::seed(&deps, options.users, sessions, refresh).await?;
    eprintln!("seeded in {:.1} s", seeded_at.elapsed().as_secs_f64());
    let files = write_files(&work, &seeded).await?;

    let (mut server, startup) = start_server(&options.binary, &url, PORT, &[]).await?;
    let pid = server.id().unwrap_or_default();
    let base = format!("http://127.0.0.1:{PORT}");
    let me_url = format!("{base}/api/v1/users/me");
    let mut rows = Vec::new();
    let mut results = serde_json::Map::new();
    let mut record = |name: &str, connections: &str, figures: Figures, rows: &mut Vec<Row>| {
        results.insert(format!("{name} @{connections}"), figures.json());
        rows.push(Row {
            scenario: name.to_owned(),
            connections: connections.to_owned(),
            figures,
        });
    };

    let smoke_or = |n: usize| if options.smoke { n.min(10) } else { n };
    let me_connections: &[usize] = if options.wants("me") {
        &[100, 1000]
    } else {
        &[]
    };
    for &connections in me_connections {
        let figures = wrk::run(
            &work,
            "me",
            &base,
            smoke_or(connections),
            duration,
            &[&files.access],
        )
        .await?;
        record(
            "GET /users/me",
            &connections.to_string(),
            figures,
            &mut rows,
        );
    }
    let login = if options.wants("login") {
        let login = wrk::run(
            &work,
            "login",
            &base,
            smoke_or(50),
            duration,
            &[&files.emails],
        )
        .await?;
        record("POST /auth/login", "50", login, &mut rows);
        Some(login)
    } else {
        None
    };

    if options.wants("probe") {
        let rate = if options.smoke { 10 } else { 50 };
        let token = seeded.access_tokens.get(1).cloned().unwrap_or_default();
        let alone = probe::run(&me_url, &token, rate, duration).await;
        record(
            &format!("probe GET /users/me at {rate}/s, alone"),
            "open",
            alone,
            &mut rows,
        );
        let storm = {
            let (work, base, emails) = (work.clone(), base.clone(), files.emails.clone());
            let connections = smoke_or(50);
            tokio::spawn(async move {
                wrk::run(
                    &work,
                    "login",
                    &base,
                    connections,
                    duration + Duration::from_secs(1),
                    &[&emails],
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = probe::run(&me_url, &token, rate, duration).await;
        let storm = storm.await??;
        record(
            &format!("probe GET /users/me at {rate}/s, during storm"),
            "open",
            during,
            &mut rows,
        );
        record("  (the login storm itself)", "50", storm, &mut rows);
    }
    if options.wants("refresh") {
        let refresh = wrk::run(
            &work,
            "refresh",
            &base,
            smoke_or(100),
            duration,
            &[&files.refresh],
        )
        .await?;
        record("POST /auth/refresh", "100", refresh, &mut rows);
    }
    if options.wants("mfa") {
        // One user and one challenge a request: more than the run can spend.
        let count = if options.smoke { 3_000 } else { 60_000 };
        let mfa_files = mfa::prepare(&deps, &work, count).await?;
        let second_step = wrk::run(
            &work,
            "mfa",
            &base,
            smoke_or(50),
            duration,
            &[&mfa_files.tokens, &mfa_files.code],
        )
        .await?;
        record("POST /auth/login/mfa (TOTP)", "50", second_step, &mut rows);
    }
    let passkey_login = if options.wants("passkey") {
        // One challenge a request, signed in advance: more than the run can spend.
        let count = if options.smoke { 3_000 } else { 60_000 };
        let bodies = passkey::prepare(&deps, &work, count).await?;
        let options_only =
            wrk::run(&work, "passkey_options", &base, smoke_or(50), duration, &[]).await?;
        record("POST /auth/passkey/options", "50", options_only, &mut rows);
        let signed_in =
            wrk::run(&work, "passkey", &base, smoke_or(50), duration, &[&bodies]).await?;
        record("POST /auth/passkey/login", "50", signed_in, &mut rows);
        Some(signed_in)
    } else {
        None
    };
    if options.wants("list") {
        let list = wrk::run(
            &work,
            "list",
            &base,
            smoke_or(50),
            duration,
            &[&files.admin, &files.search_terms],
        )
        .await?;
        record("GET /users (admin console mix)", "50", list, &mut rows);
    }
    if options.wants("register") {
        let register = wrk::run(&work, "register", &base, smoke_or(50), duration, &[]).await?;
        record("POST /auth/register", "50", register, &mut rows);
    }

    let transfer = if options.wants("transfer") {
        let users = if options.smoke { 20_000 } else { 1_000_000 };
        let me_duration = if options.smoke {
            duration
        } else {
            Duration::from_secs(20)
        };
        let measured = transfer::run(
            &work,
            &base,
            pid,
            &seeded.admin_token,
            users,
            &files.access,
            me_duration,
        )
        .await?;
        record(
            "GET /users/me during the import",
            "50",
            measured.me_during,
            &mut rows,
        );
        Some(measured)
    } else {
        None
    };

    let peak_rss_mb = keys::rss_mb(pid, "VmHWM:").await;
    let stopped = stop(&mut server, pid).await?;

    // The limiter under a flood of keys, on a server of its own with limits on.
    let flood = if options.wants("keys") {
        let (mut limited, _) = start_server(
            &options.binary,
            &url,
            LIMITED_PORT,
            &[
                ("RATE_LIMIT_ENABLED", "true"),
                ("RATE_LIMIT_PER_IP", "4000000000/1m"),
                ("TRUSTED_PROXIES", "127.0.0.1"),
            ],
        )
        .await?;
        let limited_pid = limited.id().unwrap_or_default();
        let keys_wanted = if options.smoke { 20_000 } else { 1_000_000 };
        let flood = keys::run(
            &work,
            &format!("http://127.0.0.1:{LIMITED_PORT}"),
            limited_pid,
            smoke_or(50),
            duration,
            keys_wanted,
        )
        .await;
        stop(&mut limited, limited_pid).await?;
        let flood = flood?;
        record("limiter: one client", "50", flood.one_client, &mut rows);
        record(
            "limiter: a new /64 each request",
            "50",
            flood.first_new,
            &mut rows,
        );
        record(
            &format!("limiter: same, after {} keys", flood.keys),
            "50",
            flood.after_flood,
            &mut rows,
        );
        Some(flood)
    } else {
        None
    };

    // The machine's own limits, measured in the same run.
    let hello = hello_world(&work, smoke_or(100), duration).await?;
    record(
        "hello world, same HTTP stack (axum/tokio)",
        &smoke_or(100).to_string(),
        hello,
        &mut rows,
    );
    let pgbench = pgbench(&options.server, smoke_or(100), duration).await?;
    let argon2 = argon2_rate(&deps, if options.smoke { 8 } else { 200 }).await?;

    report::print(&rows);
    println!("\nmachine limits, same run:");
    println!(
        "  pgbench -S, {} clients:              {pgbench:>10.1} transactions/s",
        smoke_or(100)
    );
    println!(
        "  raw Argon2id, {} threads:             {argon2:>10.1} hashes/s",
        threads()
    );
    println!("  service peak RSS:                     {peak_rss_mb:>10.1} MB");
    if let Some(t) = &transfer {
        println!(
            "  import of {} users (bcrypt), HTTP:     {:>10.0} users/s ({} created in {:.1} s)",
            t.users, t.import_rate, t.created, t.import_secs
        );
        println!(
            "  service RSS before / peak in import:   {:>6.1} / {:.1} MB",
            t.rss_before_mb, t.peak_rss_mb
        );
        println!(
            "  export of every user, HTTP:            {:>10.0} users/s ({} lines)",
            t.export_rate, t.export_lines
        );
        let [before, imported, after] = t.failed_login_ms;
        println!(
            "  failed login, median ms: unknown {before:.1}, imported bcrypt {imported:.1}, unknown after {after:.1}"
        );
    }
    println!(
        "  service start-up to ready (migrated):  {:>10.0} ms",
        startup.as_secs_f64() * 1000.0
    );
    println!("  service exit after SIGTERM:            {stopped}");
    if let Some(flood) = &flood {
        println!(
            "  limiter RSS, one client / after {} keys: {:.1} MB / {:.1} MB",
            flood.keys, flood.rss_one_client_mb, flood.rss_after_flood_mb
        );
    }
    let mut ratios = Vec::new();
    if let Some(me) = rows
        .iter()
        .find(|r| r.scenario == "GET /users/me" && r.connections == "100")
    {
        let ratio = me.figures.requests_per_second / pgbench.max(1.0);
        ratios.push(format!("/users/me@100 vs pgbench -S: {ratio:.2}"));
    }
    if let Some(login) = login {
        let ratio = login.requests_per_second / argon2.max(1.0);
        ratios.push(format!("login vs raw Argon2id: {ratio:.2}"));
    }
    if let (Some(passkey), Some(login)) = (passkey_login, login) {
        let ratio = passkey.requests_per_second / login.requests_per_second.max(1.0);
        ratios.push(format!("passkey sign-in vs password login: {ratio:.1}x"));
    }
    if !ratios.is_empty() {
        println!("\nratios: {}", ratios.join("; "));
    }

    results.insert(
        "machine".into(),
        json!({"pgbench_select_tps": pgbench, "argon2id_hashes_per_second": argon2, "threads": threads(),
               "peak_rss_mb": peak_rss_mb, "startup_ms": startup.as_secs_f64() * 1000.0,
               "users": options.users, "duration_s": options.duration,
               "limiter_keys": flood.as_ref().map(|f| f.keys),
               "limiter_rss_one_client_mb": flood.as_ref().map(|f| f.rss_one_client_mb),
               "limiter_rss_after_flood_mb": flood.as_ref().map(|f| f.rss_after_flood_mb)}),
    );
    tokio::fs::write(
        work.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )
    .await?;
    println!("\nwritten: target/bench/results.json");

    pool.close().await;
    if !options.keep_database {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    let errors: u64 = rows
        .iter()
        .filter(|r| !r.scenario.starts_with("hello"))
        .map(|r| r.figures.errors)
        .sum();
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Files {
    access: PathBuf,
    refresh: PathBuf,
    emails: PathBuf,
    admin: PathBuf,
    search_terms: PathBuf,
}

async fn write_files(work: &Path, seeded: &seed::Seeded) -> anyhow::Result<Files> {
    let files = Files {
        access: work.join("access-tokens.txt"),
        refresh: work.join("refresh-tokens.txt"),
        emails: work.join("emails.txt"),
        admin: work.join("admin-token.txt"),
        search_terms: work.join("search-terms.txt"),
    };
    tokio::fs::write(&files.access, seeded.access_tokens.join("\n") + "\n").await?;
    tokio::fs::write(&files.refresh, seeded.refresh_tokens.join("\n") + "\n").await?;
    tokio::fs::write(&files.emails, seeded.emails.join("\n") + "\n").await?;
    tokio::fs::write(&files.admin, format!("{}\n", seeded.admin_token)).await?;
    let terms = seeded.search_terms.join("\n") + "\n";
    tokio::fs::write(&files.search_terms, terms).await?;
    Ok(files)
}

async fn run_checked(binary: &Path, args: &[&str], url: &str) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(binary)
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .await
        .with_context(|| format!("run {} (build it first)", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} {args:?}: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Starts the server on `port` with rate limits off unless `env` says otherwise; returns it
/// and the time from start to ready.
async fn start_server(
    binary: &Path,
    url: &str,
    port: u16,
    env: &[(&str, &str)],
) -> anyhow::Result<(tokio::process::Child, Duration)> {
    let started = Instant::now();
    let child = tokio::process::Command::new(binary)
        .env("DATABASE_URL", url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("RATE_LIMIT_ENABLED", "false")
        .env("LOG_FORMAT", "json")
        .env_remove("GATEHOUSE_ENV")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let client = reqwest::Client::new();
    let ready_url = format!("http://127.0.0.1:{port}/health/ready");
    while started.elapsed() < Duration::from_secs(30) {
        if client
            .get(&ready_url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok((child, started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("the server did not become ready")
}

/// SIGTERM, then the exit status.
async fn stop(
    server: &mut tokio::process::Child,
    pid: u32,
) -> anyhow::Result<std::process::ExitStatus> {
    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await;
    Ok(server.wait().await?)
}

async fn hello_world(
    work: &Path,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, world!" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", HELLO_PORT)).await?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let figures = wrk::run(
        work,
        "hello",
        &format!("http://127.0.0.1:{HELLO_PORT}"),
        connections,
        duration,
        &[],
    )
    .await;
    server.abort();
    figures
}

async fn pgbench(server: &str, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    let database = "gatehouse_pgbench";
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&admin)
        .await?;
    let url = format!("{server}/{database}");
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", &url])
        .output()
        .await?;
    if !init.status.success() {
        bail!("pgbench -i: {}", String::from_utf8_lossy(&init.stderr));
    }
    let run = tokio::process::Command::new("pgbench")
        .args([
            "-S",
            "-n",
            "-c",
            &clients.min(90).to_string(),
            "-j",
            "2",
            "-T",
            &duration.as_secs().max(1).to_string(),
            &url,
        ])
        .output()
        .await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("pgbench printed no tps: {out}"))
}

async fn argon2_rate(deps: &Deps, hashes: usize) -> anyhow::Result<f64> {
    let stored = deps.passwords.hash(seed::PASSWORD).await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..hashes {
        let passwords = deps.passwords.clone();
        let stored = stored.clone();
        tasks.spawn(async move { passwords.verify(seed::PASSWORD, Some(&stored)).await });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(hashes as f64 / started.elapsed().as_secs_f64())
}
