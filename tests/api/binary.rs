//! The `gatehouse` binary itself: its commands, start-up and shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{TestDb, binary, repo_file};

fn gatehouse(args: &[&str], database_url: &str) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("GATEHOUSE_ENV")
        .output()
        .expect("run gatehouse")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn openapi_prints_the_committed_document() {
    let output = gatehouse(&["openapi"], "postgres://unused@localhost/unused");
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("docs/openapi.json")).unwrap_or_default(),
    )
    .expect("committed json");
    assert_eq!(printed, committed);
}

#[tokio::test]
async fn migrate_up_down_and_status() {
    let test_db = TestDb::empty().await;
    let url = test_db.url.clone();
    let count = gatehouse::db::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .count();

    let output = gatehouse(&["migrate", "status"], &url);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).matches("pending").count(), count);

    let output = gatehouse(&["migrate", "up"], &url);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = gatehouse(&["migrate", "status"], &url);
    assert_eq!(text(&output.stdout).matches("applied").count(), count);

    let output = gatehouse(&["migrate", "down", "--steps", "2"], &url);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).matches("reverted").count(), 2);
    let output = gatehouse(&["migrate", "status"], &url);
    assert_eq!(text(&output.stdout).matches("pending").count(), 2);

    let output = gatehouse(&["migrate", "up"], &url);
    assert!(output.status.success());
    let output = gatehouse(&["migrate", "status"], &url);
    assert_eq!(text(&output.stdout).matches("applied").count(), count);
}

#[test]
fn production_refuses_to_start_without_real_keys() {
    let output = Command::new(binary())
        .arg("serve")
        .env("GATEHOUSE_ENV", "production")
        .env("DATABASE_URL", "postgres://unused@localhost/unused")
        .env_remove("JWT_SIGNING_KEY_FILE")
        .output()
        .expect("run gatehouse");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("JWT_SIGNING_KEY_FILE is required when GATEHOUSE_ENV=production"),
        "{stderr}"
    );
}

#[test]
fn invalid_settings_are_named() {
    let output = Command::new(binary())
        .args(["serve", "--access-token-ttl", "0"])
        .output()
        .expect("run gatehouse");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("--access-token-ttl"));

    let output = Command::new(binary())
        .arg("serve")
        .env("ENCRYPTION_KEYS", "nokid")
        .output()
        .expect("run gatehouse");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("kid:base64key"),
        "{}",
        text(&output.stderr)
    );
}

/// Starts the binary on a random port; returns the process and its address.
fn start(database_url: &str) -> (Child, String) {
    let mut child = Command::new(binary())
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env_remove("GATEHOUSE_ENV")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gatehouse");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "gatehouse listening" {
            let addr = event["addr"].as_str().unwrap_or_default().to_owned();
            // Keep draining the log so the process never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, addr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gatehouse did not start listening");
}

#[tokio::test]
async fn the_binary_creates_its_database_serves_and_stops_cleanly_on_sigterm() {
    // A database name that does not exist yet: the binary must create and migrate it.
    let test_db = TestDb::empty().await;
    let fresh_name = format!("{}_created", test_db.name);
    let fresh_url = test_db.url.replace(&test_db.name, &fresh_name);
    let (mut child, addr) = start(&fresh_url);

    let ready = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .expect("request");
    assert_eq!(ready.status(), 200);

    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "gatehouse did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");

    let admin = sqlx::PgPool::connect(&crate::helpers::admin_url())
        .await
        .expect("admin");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&fresh_name)
            .fetch_one(&admin)
            .await
            .expect("query");
    assert!(exists, "the binary created its database");
    sqlx::query(&format!("DROP DATABASE \"{fresh_name}\" WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop");
}
