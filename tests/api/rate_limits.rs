//! Rate limits end to end: headers, 429s, the slowdown, proxies, and Redis shared by two
//! real server processes.

use std::process::{Child, Command};
use std::time::Duration;

use gatehouse::rate_limit::gcra::Limit;
use gatehouse::rate_limit::redis::RedisStore;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, TestDb, count, problem, start_binary};

const REDIS: &str = "redis://127.0.0.1:6379";

fn limited(extra: &[&'static str]) -> Vec<&'static str> {
    let mut flags = vec!["--rate-limit-enabled", "true"];
    flags.extend_from_slice(extra);
    flags
}

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn every_response_carries_the_headers_and_the_limit_refuses_with_retry_after() {
    let app = TestApp::spawn_with(&limited(&["--rate-limit-per-ip", "5/1m"])).await;
    for expected_remaining in (0..5).rev() {
        let response = app.get("/health/live").await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit"), Some(5));
        assert_eq!(
            header(&response, "ratelimit-remaining"),
            Some(expected_remaining)
        );
        assert!(header(&response, "ratelimit-reset").is_some_and(|r| r > 0 && r <= 60));
    }
    let refused = app.get("/health/live").await;
    let retry = header(&refused, "retry-after");
    assert_eq!(retry, Some(12), "one request every 60/5 seconds");
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    problem(refused, 429, "rate_limited").await;
}

#[tokio::test]
async fn switched_off_there_are_no_headers_and_no_limits() {
    let app = TestApp::spawn_with(&["--rate-limit-per-ip", "1/1m"]).await;
    for _ in 0..3 {
        let response = app.get("/health/live").await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn logins_are_limited_per_ip_and_refusals_are_audited() {
    let app = TestApp::spawn_with(&limited(&[])).await;
    // Different addresses each time, so that the slowdown (per address) stays out of it.
    for i in 0..10 {
        let response = app
            .login(&format!("nobody{i}@example.com"), "whatever password")
            .await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            header(&response, "ratelimit-limit"),
            Some(10),
            "the login limit is the closest one"
        );
    }
    let refused = app.login("nobody@example.com", "whatever password").await;
    assert!(header(&refused, "retry-after").is_some_and(|s| s >= 1));
    problem(refused, 429, "rate_limited").await;
    problem(
        app.login("other@example.com", "whatever password").await,
        429,
        "rate_limited",
    )
    .await;
    let (count, ip, request_id): (i64, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT count(*), max(host(ip)), max(request_id) FROM audit_events WHERE action = 'auth.rate_limited' AND outcome = 'failure'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("audit");
    assert_eq!(
        count, 1,
        "recorded once a minute per bucket, not per refusal"
    );
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert!(request_id.is_some());
}

#[tokio::test]
async fn recovery_mail_is_limited_per_address_whether_or_not_it_exists() {
    let app = TestApp::spawn_with(&limited(&["--rate-limit-recovery-per-ip", "20/1h"])).await;
    for email in [
        "ghost@example.com",
        "GHOST@example.com",
        "ghost@example.com",
    ] {
        let response = app
            .post("/api/v1/auth/forgot-password", json!({"email": email}))
            .await;
        assert_eq!(response.status(), 202);
    }
    let response = app
        .post(
            "/api/v1/auth/forgot-password",
            json!({"email": "ghost@example.com"}),
        )
        .await;
    assert_eq!(header(&response, "ratelimit-limit"), Some(3));
    problem(response, 429, "rate_limited").await;
    // Another address is not affected; nor is the other route's bucket.
    assert_eq!(
        app.post(
            "/api/v1/auth/forgot-password",
            json!({"email": "real@example.com"})
        )
        .await
        .status(),
        202
    );
    assert_eq!(
        app.post(
            "/api/v1/auth/resend-verification",
            json!({"email": "ghost@example.com"})
        )
        .await
        .status(),
        202
    );
    let keys_with_address = count(
        &app.pool,
        "SELECT count(*) FROM audit_events WHERE details::text LIKE '%ghost%'",
    )
    .await;
    assert_eq!(keys_with_address, 0);
}

#[tokio::test]
async fn failed_logins_slow_down_per_address_and_ip_and_a_success_resets() {
    let app = TestApp::spawn_with(&limited(&[
        "--rate-limit-login",
        "100/1m",
        "--trusted-proxies",
        "127.0.0.1",
    ]))
    .await;
    let admin = app.admin().await;
    app.member(&admin, "ada@example.com", "user").await;
    let attacker = "198.51.100.66";
    for _ in 0..5 {
        problem(
            app.login_forwarded_for("ada@example.com", "wrong password!", attacker)
                .await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let blocked = app
        .login_forwarded_for("ada@example.com", PASSWORD, attacker)
        .await;
    assert_eq!(header(&blocked, "retry-after"), Some(1));
    problem(blocked, 429, "rate_limited").await;

    // The owner, from another address, is not locked out by the attacker's failures.
    assert_eq!(
        app.login_forwarded_for("ada@example.com", PASSWORD, "203.0.113.10")
            .await
            .status(),
        200
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    problem(
        app.login_forwarded_for("ada@example.com", "wrong password!", attacker)
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    let longer = app
        .login_forwarded_for("ada@example.com", PASSWORD, attacker)
        .await;
    assert_eq!(header(&longer, "retry-after"), Some(2), "the delay doubles");
    problem(longer, 429, "rate_limited").await;

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        app.login_forwarded_for("ada@example.com", PASSWORD, attacker)
            .await
            .status(),
        200
    );
    problem(
        app.login_forwarded_for("ada@example.com", "wrong password!", attacker)
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login_forwarded_for("ada@example.com", PASSWORD, attacker)
            .await
            .status(),
        200,
        "the success reset the count"
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(&limited(&["--rate-limit-per-ip", "3/1m"])).await;
    for i in 0..3 {
        let response = app
            .client
            .get(app.url("/health/live"))
            .header("x-forwarded-for", format!("10.9.9.{i}"))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
    }
    let spoofed = app
        .client
        .get(app.url("/health/live"))
        .header("x-forwarded-for", "10.9.9.200")
        .send()
        .await
        .expect("send");
    problem(spoofed, 429, "rate_limited").await;

    let behind_proxy = TestApp::spawn_with(&limited(&[
        "--rate-limit-per-ip",
        "3/1m",
        "--trusted-proxies",
        "127.0.0.0/8",
    ]))
    .await;
    for i in 0..6 {
        let client_ip = format!("203.0.113.{}", i % 2);
        let response = behind_proxy
            .client
            .get(behind_proxy.url("/health/live"))
            .header("x-forwarded-for", format!("6.6.6.6, {client_ip}"))
            .send()
            .await
            .expect("send");
        assert_eq!(
            response.status(),
            200,
            "two clients behind a trusted proxy, three each"
        );
    }
}

#[tokio::test]
async fn the_redis_store_runs_the_same_algorithm() {
    let prefix = format!("gatehouse-test:{}:", uuid::Uuid::now_v7().simple());
    let store = RedisStore::new(REDIS, &prefix).expect("redis url");
    let limit = Limit::new(4, Duration::from_secs(60));
    let buckets = vec![("k".to_owned(), limit)];
    let mut allowed = Vec::new();
    for _ in 0..5 {
        let (ok, outcomes) = store
            .check(&buckets)
            .await
            .expect("Redis must be running for the tests");
        allowed.push((ok, outcomes[0].remaining));
    }
    assert_eq!(
        allowed,
        [(true, 3), (true, 2), (true, 1), (true, 0), (false, 0)]
    );
    let (_, refused) = store.check(&buckets).await.expect("redis");
    assert!(
        (14_000.0..=15_000.0).contains(&refused[0].retry_ms),
        "{:?}",
        refused[0]
    );

    let slowdown = gatehouse::rate_limit::slowdown::Slowdown {
        after: 2,
        max: Duration::from_secs(900),
    };
    assert_eq!(store.blocked_ms("login").await.expect("redis"), None);
    store.failed("login", &slowdown).await.expect("redis");
    assert_eq!(store.blocked_ms("login").await.expect("redis"), None);
    store.failed("login", &slowdown).await.expect("redis");
    assert!(
        store
            .blocked_ms("login")
            .await
            .expect("redis")
            .is_some_and(|ms| ms > 0.0 && ms <= 1000.0)
    );
    store.succeeded("login").await.expect("redis");
    assert_eq!(store.blocked_ms("login").await.expect("redis"), None);
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_the_process() {
    let app = TestApp::spawn_with(&limited(&[
        "--redis-url",
        "redis://127.0.0.1:1",
        "--rate-limit-per-ip",
        "2/1m",
    ]))
    .await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert_eq!(app.get("/health/live").await.status(), 200);
    problem(app.get("/health/live").await, 429, "rate_limited").await;
}

/// A real server process sharing Redis with the others.
fn start(database_url: &str, prefix: &str) -> (Child, String) {
    start_binary(
        database_url,
        &[
            ("REDIS_URL", REDIS),
            ("REDIS_KEY_PREFIX", prefix),
            ("RATE_LIMIT_PER_IP", "10/1m"),
        ],
    )
}

#[tokio::test]
async fn two_processes_sharing_redis_enforce_one_limit_together() {
    let test_db = TestDb::empty().await;
    let prefix = format!("gatehouse-test:{}:", uuid::Uuid::now_v7().simple());
    let (first, first_addr) = start(&test_db.url, &prefix);
    let (second, second_addr) = start(&test_db.url, &prefix);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..14 {
        let addr = if i % 2 == 0 {
            &first_addr
        } else {
            &second_addr
        };
        let status = client
            .get(format!("http://{addr}/health/live"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        statuses.push(status);
    }
    for mut child in [first, second] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        4,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_count_and_carry_the_headers() {
    let app = TestApp::spawn_with(&limited(&["--rate-limit-per-ip", "3/1m"])).await;
    let missing = app.get("/no/such/route").await;
    assert_eq!(header(&missing, "ratelimit-remaining"), Some(2));
    problem(missing, 404, "not_found").await;
    let wrong_method = app
        .client
        .delete(app.url("/health/live"))
        .send()
        .await
        .expect("send");
    assert_eq!(header(&wrong_method, "ratelimit-limit"), Some(3));
    assert_eq!(header(&wrong_method, "ratelimit-remaining"), Some(1));
    problem(wrong_method, 405, "method_not_allowed").await;
    let wrong_method = app
        .client
        .put(app.url("/api/v1/auth/login"))
        .send()
        .await
        .expect("send");
    assert_eq!(header(&wrong_method, "ratelimit-remaining"), Some(0));
    problem(wrong_method, 405, "method_not_allowed").await;
    problem(app.get("/health/live").await, 429, "rate_limited").await;
}

/// An attacker with one IPv6 /64 (every server has one) rotates source addresses through a
/// trusted proxy: the login limit and the failed-login slowdown still see one client.
#[tokio::test]
async fn ipv6_clients_behind_a_proxy_count_per_64() {
    let app = TestApp::spawn_with(&limited(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--rate-limit-login",
        "3/1m",
    ]))
    .await;
    for host in 1..=3 {
        let response = app
            .login_forwarded_for(
                "x@example.com",
                "a wrong passphrase",
                &format!("2001:db8:1:2::{host}"),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let rotated = app
        .login_forwarded_for(
            "x@example.com",
            "a wrong passphrase",
            "2001:db8:1:2:ffff::99",
        )
        .await;
    problem(rotated, 429, "rate_limited").await;
    let other_network = app
        .login_forwarded_for("x@example.com", "a wrong passphrase", "2001:db8:1:3::1")
        .await;
    assert_eq!(other_network.status(), 401, "another /64 is another client");
}

#[tokio::test]
async fn the_failed_login_slowdown_of_ipv6_counts_per_64() {
    let app = TestApp::spawn_with(&limited(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--rate-limit-login",
        "100/1m",
    ]))
    .await;
    let admin = app.admin().await;
    app.member(&admin, "ada@example.com", "user").await;
    for host in 1..=5 {
        let response = app
            .login_forwarded_for(
                "ada@example.com",
                "a wrong passphrase",
                &format!("2001:db8:9::{host}"),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let rotated = app
        .login_forwarded_for("ada@example.com", PASSWORD, "2001:db8:9::ffff")
        .await;
    problem(rotated, 429, "rate_limited").await;
    let owner = app
        .login_forwarded_for("ada@example.com", PASSWORD, "2001:db8:7::1")
        .await;
    assert_eq!(
        owner.status(),
        200,
        "the owner's own network is not slowed down"
    );
}

/// A real IPv6 peer: the service listening on [::1].
#[tokio::test]
async fn a_real_ipv6_peer_is_limited_and_recorded() {
    let app = TestApp::spawn_listening("[::1]:0", &limited(&["--rate-limit-per-ip", "3/1m"])).await;
    assert!(
        app.url("/").starts_with("http://[::1]:"),
        "{}",
        app.url("/")
    );
    let admin = app.admin().await;
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT host(ip) FROM sessions WHERE user_id = $1::text::uuid ORDER BY created_at DESC LIMIT 1",
    )
    .bind(&admin.id)
    .fetch_one(&app.pool)
    .await
    .expect("session");
    assert_eq!(
        ip.as_deref(),
        Some("::1"),
        "the peer's address is recorded as it is"
    );
    // The admin's sign-in used one of the three requests; two remain, then 429.
    for remaining in [1, 0] {
        let response = app.get("/health/live").await;
        assert_eq!(header(&response, "ratelimit-remaining"), Some(remaining));
    }
    problem(app.get("/health/live").await, 429, "rate_limited").await;
}

/// A dual-stack listener sees its IPv4 peers as IPv4-mapped IPv6 addresses
/// (`::ffff:127.0.0.1`); they still match an IPv4 `TRUSTED_PROXIES`, so the clients behind
/// the proxy keep their own limits instead of all sharing the proxy's.
#[tokio::test]
async fn a_dual_stack_listener_trusts_its_ipv4_proxy() {
    let app = TestApp::spawn_listening(
        "[::]:0",
        &limited(&[
            "--rate-limit-per-ip",
            "2/1m",
            "--trusted-proxies",
            "127.0.0.1",
        ]),
    )
    .await;
    let url = format!("http://127.0.0.1:{}/health/live", app.addr.port());
    let mut statuses = Vec::new();
    for client in [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.1",
        "198.51.100.2",
    ] {
        let response = app
            .client
            .get(&url)
            .header("x-forwarded-for", client)
            .send()
            .await
            .expect("send");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200],
        "two clients, two requests each"
    );
    let third = app
        .client
        .get(&url)
        .header("x-forwarded-for", "198.51.100.1")
        .send()
        .await
        .expect("send");
    problem(third, 429, "rate_limited").await;
}

/// Guessing spread over many IPs: once an account has had its budget of failed logins
/// within the hour, IPs that never signed in to it are refused, even with the right
/// password, while the owner's usual IP signs in and password reset stays open.
#[tokio::test]
async fn the_account_budget_bounds_guessing_from_many_ips_but_not_the_owner() {
    let app = TestApp::spawn_with(&limited(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--login-account-failure-budget",
        "4",
        "--rate-limit-login",
        "100/1m",
    ]))
    .await;
    let admin = app.admin().await;
    app.member(&admin, "ada@example.com", "user").await;
    let home = "203.0.113.10";
    assert_eq!(
        app.login_forwarded_for("ada@example.com", PASSWORD, home)
            .await
            .status(),
        200
    );
    for attacker in 1..=4 {
        let response = app
            .login_forwarded_for(
                "ada@example.com",
                "a wrong passphrase",
                &format!("198.51.100.{attacker}"),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let guessed = app
        .login_forwarded_for("ada@example.com", PASSWORD, "198.51.100.77")
        .await;
    let retry = header(&guessed, "retry-after");
    assert!(
        retry.is_some_and(|s| (3500..=3600).contains(&s)),
        "{retry:?}"
    );
    problem(guessed, 429, "rate_limited").await;
    assert_eq!(
        app.login_forwarded_for("ada@example.com", PASSWORD, home)
            .await
            .status(),
        200,
        "the owner's IP signed in before, so it keeps signing in"
    );
    let reset = app
        .client
        .post(app.url("/api/v1/auth/forgot-password"))
        .header("x-forwarded-for", "198.51.100.78")
        .json(&serde_json::json!({"email": "ada@example.com"}))
        .send()
        .await
        .expect("send");
    assert_eq!(reset.status(), 202, "password reset by mail stays open");
    let refusals = count(
        &app.pool,
        "SELECT count(*) FROM audit_events WHERE action = 'auth.rate_limited' AND details->>'limit' = 'account_budget'",
    )
    .await;
    assert_eq!(refusals, 1);
}

/// The budget is shared: failures spread over two instances behind a load balancer count
/// together in Redis.
#[tokio::test]
async fn two_instances_share_the_account_budget() {
    let test_db = TestDb::empty().await;
    let prefix = format!("gatehouse-test:{}:", uuid::Uuid::now_v7().simple());
    let envs = [
        ("REDIS_URL", REDIS),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("LOGIN_ACCOUNT_FAILURE_BUDGET", "3"),
        ("LOGIN_SLOWDOWN_AFTER", "100"),
        ("BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        ("BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase"),
    ];
    let (first, first_addr) = start_binary(&test_db.url, &envs);
    let (second, second_addr) = start_binary(&test_db.url, &envs);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..4 {
        let addr = if i % 2 == 0 {
            &first_addr
        } else {
            &second_addr
        };
        let status = client
            .post(format!("http://{addr}/api/v1/auth/login"))
            .json(
                &serde_json::json!({"email": "root@example.com", "password": "a wrong passphrase"}),
            )
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        statuses.push(status);
    }
    for mut child in [first, second] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "the fourth attempt finds the budget spent"
    );
}
