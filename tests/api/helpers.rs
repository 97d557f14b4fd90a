//! Test harness: a fresh, migrated PostgreSQL database per test, the app built in-process,
//! the real server on a random port, and the real binary when a test needs the process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use gatehouse::app::{self, AppState, OutboxWorker};
use gatehouse::config::{Config, Settings};
use gatehouse::crypto::Purpose;
use gatehouse::db;
use gatehouse::users::accounts;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::mail::MailSink;

/// The server on which test databases are created; `TEST_DATABASE_URL` overrides it.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database with a unique name.
    pub async fn empty() -> Self {
        let name = format!("gatehouse_test_{}", uuid::Uuid::now_v7().simple());
        let mut url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url())
            .await
            .expect("PostgreSQL must be running for the tests (see README)");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        Self {
            name,
            url: url.to_string(),
        }
    }

    /// Creates a database with every migration applied.
    pub async fn migrated() -> (Self, PgPool) {
        let test_db = Self::empty().await;
        let pool = test_db.pool().await;
        db::migrate_up(&pool).await.expect("migrations apply");
        (test_db, pool)
    }

    /// A small pool on this database.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread with a
        // runtime of its own removes the database.
        let name = self.name.clone();
        let handle = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin_url())
                    .await
                {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&admin)
                            .await;
                    admin.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// The user agent of the test client.
pub const USER_AGENT: &str = "gatehouse-tests/1";

/// The password of every test account.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// Settings for a test: the defaults, on the given database, with `flags` on top.
pub fn settings(database_url: &str, flags: &[&str]) -> Settings {
    let mut args = vec!["gatehouse", "--database-url", database_url];
    args.extend_from_slice(flags);
    Config::try_parse_from(args)
        .expect("test flags parse")
        .validate()
        .expect("test settings validate")
}

/// The real server, in process, on a random port of its own database, with its outbox
/// worker delivering to a real SMTP server of its own.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub state: AppState,
    pub mail: MailSink,
    outbox: Option<OutboxWorker>,
    /// Held so the database lives as long as the app, and is dropped after it.
    #[allow(dead_code)]
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts the service with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the service with extra flags (as `gatehouse serve` takes them).
    pub async fn spawn_with(flags: &[&str]) -> Self {
        let mail = MailSink::start().await;
        Self::spawn_with_mail(flags, mail).await
    }

    /// Starts the service delivering mail to `mail` (which may be stopped, to play an outage).
    pub async fn spawn_with_mail(flags: &[&str], mail: MailSink) -> Self {
        Self::spawn_on("127.0.0.1:0", flags, mail).await
    }

    /// Starts the service listening on `bind` (`[::1]:0` for an IPv6 peer, `[::]:0` for a
    /// dual-stack listener).
    pub async fn spawn_listening(bind: &str, flags: &[&str]) -> Self {
        Self::spawn_on(bind, flags, MailSink::start().await).await
    }

    async fn spawn_on(bind: &str, flags: &[&str], mail: MailSink) -> Self {
        let (db, pool) = TestDb::migrated().await;
        let state = Self::state(&db, &pool, flags, &mail);
        let router = app::router(state.clone());
        Self::serve(bind, db, pool, state, router, mail).await
    }

    /// Starts `routes` behind the service's middleware, for tests of the middleware itself.
    pub async fn spawn_routes(routes: Router<AppState>, flags: &[&str]) -> Self {
        let mail = MailSink::start().await;
        let (db, pool) = TestDb::migrated().await;
        let state = Self::state(&db, &pool, flags, &mail);
        let router = app::with_middleware(routes, state.clone());
        Self::serve("127.0.0.1:0", db, pool, state, router, mail).await
    }

    fn state(db: &TestDb, pool: &PgPool, flags: &[&str], mail: &MailSink) -> AppState {
        let smtp = mail.url();
        // Tests hash with one thread so that parallel tests do not fight for the CPU, and
        // run without rate limits unless they test them (they all come from 127.0.0.1).
        let mut all = vec![
            "--smtp-url",
            smtp.as_str(),
            "--password-hash-threads",
            "1",
            "--rate-limit-enabled",
            "false",
        ];
        all.extend_from_slice(flags);
        AppState::new(settings(&db.url, &all), pool.clone()).expect("services start")
    }

    async fn serve(
        bind: &str,
        db: TestDb,
        pool: PgPool,
        state: AppState,
        router: Router,
        mail: MailSink,
    ) -> Self {
        let outbox = OutboxWorker::start(&state).expect("outbox worker");
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .expect("bind a random port");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, signal) = oneshot::channel::<()>();
        let signalled = state.clone();
        let server = tokio::spawn(app::serve(
            listener,
            router,
            async move {
                let _ = signal.await;
                signalled.begin_shutdown();
            },
            Duration::from_secs(5),
        ));
        Self {
            addr,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(USER_AGENT)
                .build()
                .expect("http client"),
            pool,
            state,
            mail,
            outbox: Some(outbox),
            db,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Absolute URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the server")
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Any request, with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request reaches the server")
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Posts a registration body as it is; returns the answer, whatever it is.
    pub async fn register_with(&self, body: serde_json::Value) -> reqwest::Response {
        self.post("/api/v1/auth/register", body).await
    }

    /// Registers `email` with [`PASSWORD`]; returns the new account (pending verification).
    pub async fn register(&self, email: &str) -> serde_json::Value {
        let response = self
            .register_with(serde_json::json!(
                {"email": email, "password": PASSWORD, "name": "Ada Lovelace"}
            ))
            .await;
        assert_eq!(response.status(), 201, "register {email}");
        response.json().await.expect("user json")
    }

    /// Registers `email`, follows the link mailed to it, and returns the verified account.
    pub async fn verified_user(&self, email: &str) -> serde_json::Value {
        self.register(email).await;
        let mails = self.mail.wait_for(email, 1).await;
        let token = mails[0]
            .token_for("/verify-email")
            .expect("verification link");
        let response = self
            .post(
                "/api/v1/auth/verify-email",
                serde_json::json!({"token": token}),
            )
            .await;
        assert_eq!(response.status(), 200, "verify {email}");
        response.json().await.expect("user json")
    }

    fn login_request(&self, email: &str, password: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
    }

    /// Signs in; returns the answer, whatever it is.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.login_request(email, password)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Signs in as a proxy would pass the request on, naming `forwarded_for` in
    /// `X-Forwarded-For`; returns the answer, whatever it is.
    pub async fn login_forwarded_for(
        &self,
        email: &str,
        password: &str,
        forwarded_for: &str,
    ) -> reqwest::Response {
        self.login_request(email, password)
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Signs in; returns the token pair.
    pub async fn token_pair(&self, email: &str, password: &str) -> serde_json::Value {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 200, "login {email}");
        response.json().await.expect("pair")
    }

    /// Signs in and returns the access token.
    pub async fn token(&self, email: &str, password: &str) -> String {
        self.token_pair(email, password).await["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Rotates a refresh token; returns the answer, whatever it is.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post(
            "/api/v1/auth/refresh",
            serde_json::json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// An active admin, created as `gatehouse create-admin` would, signed in.
    pub async fn admin(&self) -> Actor {
        let email = format!("admin-{}@example.com", uuid::Uuid::now_v7().simple());
        let input = accounts::NewAccount {
            email: email.clone(),
            name: "Admin".to_owned(),
            password: Some(gatehouse::secret::Secret::new(PASSWORD.to_owned())),
            preferences: None,
        };
        let meta = gatehouse::request::RequestMeta::system();
        let user = accounts::create(
            self.state.deps(),
            accounts::Origin::CommandLine,
            input,
            &meta,
        )
        .await
        .expect("admin created");
        let token = self.token(&email, PASSWORD).await;
        Actor {
            id: user.id.to_string(),
            email,
            token,
        }
    }

    /// Creates a user through the API as `admin`; returns the new account.
    async fn create_user(&self, admin: &Actor, body: serde_json::Value) -> serde_json::Value {
        let email = body["email"].clone();
        let response = self
            .send(
                reqwest::Method::POST,
                "/api/v1/users",
                Some(&admin.token),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 201, "create {email}");
        response.json().await.expect("user")
    }

    /// An active user of `role`, created by `admin` through the API, signed in.
    pub async fn member(&self, admin: &Actor, email: &str, role: &str) -> Actor {
        let user = self
            .create_user(
                admin,
                serde_json::json!({"email": email, "name": email, "role": role,
                                    "password": PASSWORD, "email_verified": true}),
            )
            .await;
        let token = self.token(email, PASSWORD).await;
        Actor {
            id: user["id"].as_str().unwrap_or_default().to_owned(),
            email: email.to_owned(),
            token,
        }
    }

    /// Someone of `role` whom `admin` invites (no password, so nothing to hash: cheap);
    /// returns the new account's id.
    pub async fn invite(&self, admin: &Actor, email: &str, name: &str, role: &str) -> String {
        let user = self
            .create_user(
                admin,
                serde_json::json!({"email": email, "name": name, "role": role}),
            )
            .await;
        user["id"].as_str().unwrap_or_default().to_owned()
    }

    /// POST with a bearer token and no body.
    pub async fn post_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Every message in the outbox, oldest first, as (template, recipient). A message is
    /// queued in the transaction of the request that causes it, or by the work it left for
    /// after its response (recovery mail), which is waited for first: showing that nothing
    /// was sent needs no waiting for the SMTP server.
    pub async fn outbox(&self) -> Vec<(String, String)> {
        self.state.deps().background.idle().await;
        let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT template, key_id, recipient_ciphertext FROM email_outbox ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .expect("read the outbox");
        let cipher = &self.state.deps().cipher;
        rows.into_iter()
            .map(|(template, key_id, recipient)| {
                let to = cipher
                    .decrypt_string(Purpose::Outbox, &key_id, &recipient)
                    .expect("an outbox recipient opens");
                (template, to)
            })
            .collect()
    }

    /// The templates of the messages queued for `address` (in any case), oldest first.
    pub async fn outbox_to(&self, address: &str) -> Vec<String> {
        self.outbox()
            .await
            .into_iter()
            .filter(|(_, to)| to.eq_ignore_ascii_case(address))
            .map(|(template, _)| template)
            .collect()
    }

    /// How many audit events meet `condition` (SQL over `audit_events`, e.g.
    /// `action = 'auth.login' AND outcome = 'success'`).
    pub async fn audited(&self, condition: &str) -> i64 {
        count(
            &self.pool,
            &format!("SELECT count(*) FROM audit_events WHERE {condition}"),
        )
        .await
    }

    /// Begins a graceful shutdown and waits for the server to finish.
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(outbox) = self.outbox.take() {
            outbox.stop().await;
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// Reads a response as JSON, asserting its content type.
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "content type"
    );
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .expect("request id header")
        .to_owned();
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status, "status in {body}");
    assert_eq!(body["type"], format!("/problems/{code}"), "type in {body}");
    assert_eq!(body["request_id"], header_id, "request id in {body}");
    body
}

/// Asserts the status of an answer and reads its JSON body.
pub async fn json_body(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    response.json().await.expect("a JSON body")
}

/// Asserts that of attempts racing for one thing exactly one won, answered `won`, and
/// every other lost, answered `lost`.
pub fn assert_one_winner(statuses: &[u16], won: u16, lost: u16) {
    assert_eq!(
        statuses.iter().filter(|s| **s == won).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == won || *s == lost),
        "{statuses:?}"
    );
}

/// Starts the real binary on a free port with extra environment variables; returns it and
/// the address it listens on, read from its "gatehouse listening" log line.
pub fn start_binary(database_url: &str, envs: &[(&str, &str)]) -> (Child, String) {
    let (child, addr, _) = start_binary_logged(database_url, envs);
    (child, addr)
}

/// [`start_binary`], with the lines the process logs after it started listening (JSON).
pub fn start_binary_logged(
    database_url: &str,
    envs: &[(&str, &str)],
) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(binary())
        .env_remove("GATEHOUSE_ENV")
        .envs(envs.iter().copied())
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
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
            // Keep draining the log so the process never blocks on a full pipe, whether or
            // not anyone reads the lines.
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
            return (child, addr, receiver);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gatehouse did not start listening");
}

/// The single number `sql` selects, typically a `count(*)`.
pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Polls `check` every 100 ms until it holds; returns how long that took.
pub async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Path of the built `gatehouse` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gatehouse"))
}

/// Path of a file in the repository.
pub fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs futures concurrently (each in its own task) and returns their outputs in order.
pub async fn join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (index, future) in futures.enumerate() {
        set.spawn(async move { (index, future.await) });
    }
    let mut outputs = Vec::new();
    while let Some(result) = set.join_next().await {
        outputs.push(result.expect("task"));
    }
    outputs.sort_by_key(|(index, _)| *index);
    outputs.into_iter().map(|(_, output)| output).collect()
}

/// The claims of an access token (its signature is the service's business, not this test's).
pub fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}
