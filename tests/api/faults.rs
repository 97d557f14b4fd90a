//! Faults, end to end against the real binary: the database restarted under load, Redis
//! going away and coming back, SIGTERM under load, SMTP down, a mail sender killed in the
//! middle of a delivery, and two instances sharing one database.

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestDb, assert_one_winner, count, join_all, start_binary, within};
use crate::mail::MailSink;
use crate::private::{PrivatePostgres, PrivateRedis, free_port};

const ADMIN: &str = "root@example.com";

/// A running `gatehouse` process and a client for it.
struct Instance {
    child: Option<Child>,
    base: String,
    client: reqwest::Client,
}

impl Instance {
    /// Starts the binary with rate limits off and a bootstrap admin, plus `envs`.
    fn start(database_url: &str, envs: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("BOOTSTRAP_ADMIN_EMAIL", ADMIN),
            ("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
            ("RATE_LIMIT_ENABLED", "false"),
        ];
        all.extend_from_slice(envs);
        let (child, addr) = start_binary(database_url, &all);
        Self {
            child: Some(child),
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Result<reqwest::Response> {
        self.client.post(self.url(path)).json(&body).send().await
    }

    async fn get_as(&self, path: &str, token: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
    }

    async fn status(&self, path: &str) -> u16 {
        self.client
            .get(self.url(path))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    /// Signs in; returns the token pair.
    async fn login(&self, email: &str) -> Value {
        let response = self
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": PASSWORD}),
            )
            .await
            .expect("login reaches the server");
        assert_eq!(response.status(), 200, "login {email}");
        response.json().await.expect("token pair")
    }

    async fn admin_token(&self) -> String {
        self.login(ADMIN).await["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn pid(&self) -> String {
        self.child
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }

    /// Sends SIGTERM and returns the exit status.
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.pid()]).status();
        self.child.take().and_then(|mut c| c.wait().ok())
    }

    /// Kills the process outright, as a crash would.
    fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.crash();
    }
}

/// What one request under load saw.
#[derive(Debug)]
struct Seen {
    status: u16,
    code: Option<String>,
    content_type: String,
    took: Duration,
}

/// Sends `GET /users/me` from `clients` loops until `stop` is set.
fn load(
    instance: &Arc<Instance>,
    token: &str,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Seen>>> {
    (0..clients)
        .map(|_| {
            let (instance, token, stop) = (instance.clone(), token.to_owned(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let Ok(response) = instance.get_as("/api/v1/users/me", &token).await else {
                        seen.push(Seen {
                            status: 0,
                            code: None,
                            content_type: String::new(),
                            took: started.elapsed(),
                        });
                        continue;
                    };
                    let status = response.status().as_u16();
                    let content_type = response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    seen.push(Seen {
                        status,
                        code: body["code"].as_str().map(str::to_owned),
                        content_type,
                        took: started.elapsed(),
                    });
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen
            })
        })
        .collect()
}

async fn collect(loaders: Vec<tokio::task::JoinHandle<Vec<Seen>>>) -> Vec<Seen> {
    let mut all = Vec::new();
    for loader in loaders {
        all.extend(loader.await.expect("loader"));
    }
    all
}

#[tokio::test]
async fn a_database_restart_under_load_gives_quick_503s_and_recovery_needs_no_restart() {
    let postgres = PrivatePostgres::start();
    let instance = Arc::new(Instance::start(
        &postgres.url("gatehouse"),
        &[("DATABASE_ACQUIRE_TIMEOUT", "1"), ("REQUEST_TIMEOUT", "5")],
    ));
    let token = instance.admin_token().await;
    let stop = Arc::new(AtomicBool::new(false));
    let loaders = load(&instance, &token, 4, &stop);

    tokio::time::sleep(Duration::from_millis(500)).await;
    postgres.halt();
    // During the outage: readiness says so, and requests fail fast with 503.
    within(Duration::from_secs(10), "readiness turns 503", || async {
        instance.status("/health/ready").await == 503
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(instance.status("/health/live").await, 200, "still alive");

    postgres.resume();
    let recovery = within(
        Duration::from_secs(15),
        "requests succeed again",
        || async {
            let response = instance.get_as("/api/v1/users/me", &token).await;
            response.is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    within(Duration::from_secs(10), "readiness turns 200", || async {
        instance.status("/health/ready").await == 200
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let seen = collect(loaders).await;

    let outage: Vec<&Seen> = seen.iter().filter(|s| s.status != 200).collect();
    assert!(!outage.is_empty(), "the load saw the outage");
    for s in &outage {
        assert_eq!(s.status, 503, "{s:?}");
        assert_eq!(s.code.as_deref(), Some("unavailable"), "{s:?}");
        assert!(
            s.content_type.starts_with("application/problem+json"),
            "{s:?}"
        );
    }
    let slowest = seen.iter().map(|s| s.took).max().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(6),
        "no request waits past the request timeout: {slowest:?}"
    );
    eprintln!(
        "{} requests, {} refused with 503 during the outage; recovered {recovery:?} after restart",
        seen.len(),
        outage.len()
    );
    let mut instance = Arc::try_unwrap(instance)
        .ok()
        .expect("the loaders have ended and dropped their handles");
    assert!(instance.terminate().is_some_and(|s| s.success()));
}

/// Number of rate-limit keys the service has written into `redis`.
async fn redis_keys(redis: &PrivateRedis, prefix: &str) -> usize {
    let Ok(client) = redis::Client::open(redis.url()) else {
        return 0;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return 0;
    };
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async::<Vec<String>>(&mut connection)
        .await
        .map_or(0, |keys| keys.len())
}

#[tokio::test]
async fn a_redis_outage_falls_back_to_the_process_and_redis_is_used_again_when_back() {
    let db = TestDb::empty().await;
    let mut redis = PrivateRedis::start();
    let prefix = "fault-test:";
    let instance = Instance::start(
        &db.url,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_PER_IP", "1000/1m"),
            ("REDIS_URL", &redis.url()),
            ("REDIS_KEY_PREFIX", prefix),
        ],
    );
    assert_eq!(instance.status("/health/live").await, 200);
    assert!(redis_keys(&redis, prefix).await > 0, "limits live in Redis");

    redis.halt();
    for _ in 0..5 {
        let started = Instant::now();
        let response = instance
            .client
            .get(instance.url("/health/live"))
            .send()
            .await
            .expect("served while Redis is down");
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().contains_key("ratelimit-remaining"),
            "still limited, in process"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "no long wait");
    }

    redis.resume();
    assert_eq!(redis_keys(&redis, prefix).await, 0, "it came back empty");
    within(Duration::from_secs(15), "limits back in Redis", || async {
        let _ = instance.status("/health/live").await;
        redis_keys(&redis, prefix).await > 0
    })
    .await;
}

#[tokio::test]
async fn sigterm_under_load_finishes_the_requests_in_flight_and_exits_0() {
    let db = TestDb::empty().await;
    let mut instance = Instance::start(
        &db.url,
        &[("SHUTDOWN_TIMEOUT", "20"), ("PASSWORD_HASH_THREADS", "1")],
    );
    let instance_base = instance.base.clone();
    // Logins take a password hash each on one hashing thread, so when the first answer
    // arrives the others are still queued or hashing: then the signal is sent.
    let client = instance.client.clone();
    let (answered, mut first_answer) = tokio::sync::mpsc::unbounded_channel::<()>();
    let in_flight = join_all((0..12).map(|_| {
        let (client, base, answered) = (client.clone(), instance_base.clone(), answered.clone());
        async move {
            let answer = client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": ADMIN, "password": PASSWORD}))
                .send()
                .await
                .map(|r| (r.status().as_u16(), Instant::now()));
            let _ = answered.send(());
            answer
        }
    }));
    let signalled = Arc::new(std::sync::Mutex::new(None));
    let signal = {
        let signalled = signalled.clone();
        async move {
            let _ = first_answer.recv().await;
            tokio::task::spawn_blocking(move || {
                if let Ok(mut at) = signalled.lock() {
                    *at = Some(Instant::now());
                }
                instance.terminate()
            })
            .await
            .ok()
            .flatten()
        }
    };
    let (answers, exit) = tokio::join!(in_flight, signal);
    let signalled = signalled
        .lock()
        .ok()
        .and_then(|at| *at)
        .expect("signal sent");
    let mut finished_after_signal = 0;
    for answer in &answers {
        let Ok((status, at)) = answer else {
            panic!("a request in flight was dropped: {answers:?}");
        };
        assert_eq!(*status, 200, "{answers:?}");
        finished_after_signal += usize::from(*at > signalled);
    }
    assert!(
        finished_after_signal > 0,
        "some requests were still in flight when SIGTERM came"
    );
    assert!(exit.is_some_and(|s| s.success()), "exit status {exit:?}");
    let after = reqwest::get(format!("{instance_base}/health/live")).await;
    assert!(after.is_err(), "new connections are refused");
}

#[tokio::test]
async fn two_instances_send_each_mail_once_even_after_smtp_was_down() {
    let db = TestDb::empty().await;
    let smtp_port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}");
    let envs = [("SMTP_URL", smtp_url.as_str())];
    let first = Instance::start(&db.url, &envs);
    let second = Instance::start(&db.url, &envs);

    // SMTP is down: registrations on both instances still succeed.
    let emails: Vec<String> = (0..8).map(|i| format!("queued-{i}@example.com")).collect();
    for (i, email) in emails.iter().enumerate() {
        let instance = if i % 2 == 0 { &first } else { &second };
        let response = instance
            .post(
                "/api/v1/auth/register",
                json!({"email": email, "password": PASSWORD, "name": "Q"}),
            )
            .await
            .expect("register");
        assert_eq!(response.status(), 201);
    }
    let pool = db.pool().await;
    within(Duration::from_secs(10), "a delivery was tried", || async {
        count(
            &pool,
            "SELECT count(*) FROM email_outbox WHERE last_error IS NOT NULL",
        )
        .await
            > 0
    })
    .await;

    // SMTP comes back; the retries (2, 4, 8 ... s apart) deliver the queue.
    let sink = MailSink::start_on(([127, 0, 0, 1], smtp_port).into()).await;
    for email in &emails {
        sink.wait_for(email, 1).await;
    }
    // A message marked sent is done with: its sender delivered it before marking it, and
    // no instance claims a sent one. Once every message is, every delivery has landed.
    within(
        Duration::from_secs(10),
        "every message is marked sent",
        || async {
            count(
                &pool,
                "SELECT count(*) FROM email_outbox WHERE status <> 'sent'",
            )
            .await
                == 0
        },
    )
    .await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM email_outbox").await,
        i64::try_from(emails.len()).unwrap_or_default(),
        "one message a registration"
    );
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email} got exactly one mail");
    }
    assert_eq!(sink.all().len(), emails.len());
}

#[tokio::test]
async fn a_sender_killed_mid_delivery_sends_again_after_its_lease_at_least_once() {
    let db = TestDb::empty().await;
    // An SMTP server that accepts the connection and then never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let silent_url = format!("smtp://127.0.0.1:{silent_port}");
    let mut first = Instance::start(&db.url, &[("SMTP_URL", silent_url.as_str())]);
    let response = first
        .post(
            "/api/v1/auth/register",
            json!({"email": "crash@example.com", "password": PASSWORD, "name": "C"}),
        )
        .await
        .expect("register");
    assert_eq!(response.status(), 201);
    let pool = db.pool().await;
    within(
        Duration::from_secs(10),
        "the message is claimed",
        || async {
            count(
                &pool,
                "SELECT count(*) FROM email_outbox WHERE attempts > 0",
            )
            .await
                > 0
        },
    )
    .await;
    first.crash();
    held.abort();

    // The lease (60 s) is what a real restart waits for; the test ends it by hand.
    sqlx::query("UPDATE email_outbox SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .expect("lease over");
    let sink = MailSink::start().await;
    let _second = Instance::start(&db.url, &[("SMTP_URL", &sink.url())]);
    sink.wait_for("crash@example.com", 1).await;
    // Marked sent, the message is done with (see above): no second delivery can follow.
    within(
        Duration::from_secs(10),
        "the message is marked sent",
        || async {
            count(
                &pool,
                "SELECT count(*) FROM email_outbox WHERE status = 'sent'",
            )
            .await
                == 1
        },
    )
    .await;
    assert_eq!(sink.to("crash@example.com").len(), 1);
}

#[tokio::test]
async fn two_instances_let_exactly_one_rotation_of_a_refresh_token_win() {
    let db = TestDb::empty().await;
    let envs = [("REFRESH_REUSE_GRACE", "0")];
    let first = Arc::new(Instance::start(&db.url, &envs));
    let second = Arc::new(Instance::start(&db.url, &envs));
    let pair = first.login(ADMIN).await;
    let refresh = pair["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let statuses = join_all((0..10).map(|i| {
        let instance = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let refresh = refresh.clone();
        async move {
            instance
                .post("/api/v1/auth/refresh", json!({"refresh_token": refresh}))
                .await
                .map_or(0, |r| r.status().as_u16())
        }
    }))
    .await;
    assert_one_winner(&statuses, 200, 401);
}

#[tokio::test]
async fn connections_the_database_cuts_are_replaced_without_failing_a_request() {
    let app = crate::helpers::TestApp::spawn().await;
    let admin = app.admin().await;
    let reserved = &app.state.deps().reserved;
    for _ in 0..8 {
        assert_eq!(
            app.get_as("/api/v1/users/me", &admin.token).await.status(),
            200
        );
    }
    let size = reserved.idle();
    assert!(size > 0, "the authenticated read uses reserved connections");

    // What a failover or an operator's pg_terminate_backend does to open connections.
    let server = sqlx::PgPool::connect(&crate::helpers::admin_url())
        .await
        .expect("server");
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&app.db.name)
    .fetch_all(&server)
    .await
    .expect("terminate");
    assert!(cut.len() >= size, "cut {} connections", cut.len());
    tokio::time::sleep(Duration::from_millis(200)).await;

    for _ in 0..3 * size {
        assert_eq!(
            app.get_as("/api/v1/users/me", &admin.token).await.status(),
            200
        );
    }
    assert_eq!(
        reserved.idle(),
        size,
        "every reserved connection was replaced"
    );
}

/// The database vanishes under a running service (dropped by an operator): every route
/// that needs it answers 503 `unavailable`, never 500 `internal`. New connections fail
/// with "database does not exist" (3D000), which is a connection failure, not a bug.
#[tokio::test]
async fn a_vanished_database_answers_unavailable_on_every_route() {
    let app = crate::helpers::TestApp::spawn().await;
    let admin = app.admin().await;
    let server = sqlx::PgPool::connect(&crate::helpers::admin_url())
        .await
        .expect("server");
    sqlx::query(&format!("DROP DATABASE \"{}\" WITH (FORCE)", app.db.name))
        .execute(&server)
        .await
        .expect("drop the database");

    let login = app
        .post(
            "/api/v1/auth/login",
            json!({"email": admin.email, "password": PASSWORD}),
        )
        .await;
    crate::helpers::problem(login, 503, "unavailable").await;
    let me = app.get_as("/api/v1/users/me", &admin.token).await;
    crate::helpers::problem(me, 503, "unavailable").await;
    let register = app
        .post(
            "/api/v1/auth/register",
            json!({"email": "new@example.com", "password": PASSWORD, "name": "New"}),
        )
        .await;
    crate::helpers::problem(register, 503, "unavailable").await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
}
