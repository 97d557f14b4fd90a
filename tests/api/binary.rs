//! The `gatehouse` binary itself: its commands, start-up and shutdown.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{
    PASSWORD, TestDb, binary, count, repo_file, start_binary, start_binary_logged,
};

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
fn openapi_prints_the_committed_documents() {
    for (args, file) in [
        (&["openapi"][..], "docs/openapi.json"),
        (&["openapi", "--version", "3.1"][..], "docs/openapi.json"),
        (
            &["openapi", "--version", "3.0"][..],
            "docs/openapi-3.0.json",
        ),
    ] {
        let output = gatehouse(args, "postgres://unused@localhost/unused");
        assert!(output.status.success(), "{args:?}");
        let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(repo_file(file)).unwrap_or_default())
                .expect("committed json");
        assert!(
            printed == committed,
            "`gatehouse {args:?}` differs from {file}"
        );
    }
    let refused = gatehouse(
        &["openapi", "--version", "2.0"],
        "postgres://unused@localhost/unused",
    );
    assert!(!refused.status.success());
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
fn migrate_status_on_a_missing_database_says_so_once() {
    let mut url = url::Url::parse(&crate::helpers::admin_url()).expect("url");
    url.set_path(&format!(
        "gatehouse_missing_{}",
        uuid::Uuid::now_v7().simple()
    ));
    let output = gatehouse(&["migrate", "status"], url.as_str());
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("does not exist; `gatehouse migrate up` (or `gatehouse serve`) creates it"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
    assert!(
        text(&output.stdout).is_empty(),
        "one message, on standard error"
    );
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
    // The same refusal is logged; written to a pipe, the pretty format has no colour codes.
    let stdout = text(&output.stdout);
    assert!(stdout.contains("configuration error"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no ANSI escapes: {stdout:?}");
}

#[test]
fn a_bootstrap_password_breaking_a_rule_stops_the_start_naming_it() {
    let output = Command::new(binary())
        .arg("serve")
        .env("DATABASE_URL", "postgres://unused@localhost/unused")
        .env("BOOTSTRAP_ADMIN_EMAIL", "root@example.com")
        .env("BOOTSTRAP_ADMIN_PASSWORD", "short")
        .output()
        .expect("run gatehouse");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "BOOTSTRAP_ADMIN_PASSWORD breaks the password rules: must be at least 10 characters"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("BOOTSTRAP_ADMIN_EMAIL"), "{stderr}");
}

#[tokio::test]
async fn development_without_smtp_logs_each_mail_with_its_recipient() {
    let test_db = TestDb::empty().await;
    let (child, addr, log) = start_binary_logged(&test_db.url, &[("RUST_LOG", "info")]);
    let registered = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut mail = None;
    while Instant::now() < deadline && mail.is_none() {
        let Ok(line) = log.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["template"] == "verify_email" {
            mail = Some(event);
        }
    }
    stop(child);
    let mail = mail.expect("the verification mail is logged");
    assert_eq!(mail["to"], "ada@example.com");
    assert!(
        mail["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/verify-email?token="),
        "{mail}"
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
    start_binary(database_url, &[])
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

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin_and_the_admin_can_sign_in() {
    use std::io::Write as _;
    let test_db = TestDb::empty().await;
    let run = |password: &str| {
        let mut child = Command::new(binary())
            .args([
                "create-admin",
                "--email",
                "root@example.com",
                "--name",
                "Root",
            ])
            .env("DATABASE_URL", &test_db.url)
            .env_remove("GATEHOUSE_ENV")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "{password}");
        }
        child.wait_with_output().expect("output")
    };
    let weak = run("short");
    assert!(!weak.status.success());
    assert!(
        text(&weak.stderr).contains("password must be at least 10 characters"),
        "{}",
        text(&weak.stderr)
    );

    let created = run("an admin passphrase");
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).starts_with("admin created: "));
    let again = run("an admin passphrase");
    assert!(text(&again.stderr).contains("exists"));

    let (child, addr) = start(&test_db.url);
    let login = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "root@example.com", "password": "an admin passphrase"}))
        .send()
        .await
        .expect("login");
    stop(child);
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn the_bootstrap_admin_is_created_on_first_start_only() {
    let test_db = TestDb::empty().await;
    let envs = [
        ("BOOTSTRAP_ADMIN_EMAIL", "boot@example.com"),
        ("BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase for start"),
    ];
    let (child, addr) = start_binary(&test_db.url, &envs);
    let pair: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "boot@example.com", "password": "an admin passphrase for start"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    stop(child);
    let token = pair["access_token"].as_str().unwrap_or_default();
    let payload = token.split('.').nth(1).unwrap_or_default();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(claims["role"], "admin");

    // A second start with other bootstrap settings creates nobody: an admin exists.
    let (child, _) = start_binary(
        &test_db.url,
        &[
            ("BOOTSTRAP_ADMIN_EMAIL", "other@example.com"),
            ("BOOTSTRAP_ADMIN_PASSWORD", "a different passphrase!"),
        ],
    );
    stop(child);
    let pool = test_db.pool().await;
    let admins = count(&pool, "SELECT count(*) FROM users WHERE role = 'admin'").await;
    assert_eq!(admins, 1);
}

#[test]
fn keys_generate_writes_a_private_key_that_loads() {
    let dir = std::env::temp_dir().join(format!("gatehouse-keys-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("signing.pem");
    let output = Command::new(binary())
        .args(["keys", "generate", "--out"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let pem = std::fs::read_to_string(&path).expect("written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let keys = gatehouse::tokens::TokenKeys::from_pems(
        &pem,
        &[],
        "gatehouse",
        "gatehouse",
        Duration::from_secs(900),
    );
    assert!(keys.is_ok());
    let again = Command::new(binary())
        .args(["keys", "generate", "--out"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!again.status.success(), "never overwrites a key");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn production_starts_with_real_keys() {
    let test_db = TestDb::empty().await;
    let dir = std::env::temp_dir().join(format!("gatehouse-prod-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let key = dir.join("jwt.pem");
    let status = Command::new(binary())
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .status()
        .expect("run");
    assert!(status.success());
    let key_path = key.to_string_lossy().to_string();
    let (child, addr) = start_binary(
        &test_db.url,
        &[
            ("GATEHOUSE_ENV", "production"),
            ("SMTP_URL", "smtp://127.0.0.1:2525"),
            ("JWT_SIGNING_KEY_FILE", key_path.as_str()),
            (
                "ENCRYPTION_KEYS",
                "k1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
            ),
            (
                "BLIND_INDEX_KEY",
                "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
            ),
        ],
    );
    let ready = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .expect("ready");
    stop(child);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(ready.status(), 200);
}
