//! The attack catalogue: hostile input at every door, each attack asserting the documented
//! 4xx problem and that the database is exactly as it was (or, where the contract audits a
//! refused attempt, that the audit trail recorded it).
//!
//! Covered elsewhere and not repeated here: JWT forgery (tokens.rs), an existing email in
//! another case giving 409 (auth.rs), the status of every administration operation per role
//! (rbac_matrix.rs), the refused CORS preflight (middleware.rs), avatar bombs and fake
//! images (avatars.rs), rate limits (rate_limits.rs).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Actor, PASSWORD, TestApp, count, json_body, problem};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Every table a refused request must leave alone, one labelled line each, and the number
/// of audit events (kept apart: a refused login is audited by contract).
#[derive(Debug)]
struct Snapshot {
    tables: Vec<String>,
    audit_events: i64,
}

const SNAPSHOT_SQL: &[(&str, &str)] = &[
    (
        "users",
        "SELECT coalesce(json_agg(u ORDER BY u.id), '[]')::text FROM users u",
    ),
    (
        "user_counts",
        "SELECT coalesce(json_agg(c ORDER BY c.role, c.status), '[]')::text FROM user_counts c",
    ),
    // Using a session moves its last_used_at; what matters is which sessions are open.
    (
        "sessions",
        "SELECT coalesce(json_agg(json_build_array(s.id, s.user_id, s.ended_at, s.end_reason) ORDER BY s.id), '[]')::text FROM sessions s",
    ),
    (
        "refresh_tokens",
        "SELECT coalesce(json_agg(json_build_array(r.token_hash, r.rotated_at) ORDER BY r.token_hash), '[]')::text FROM refresh_tokens r",
    ),
    (
        "one_time_tokens",
        "SELECT coalesce(json_agg(json_build_array(t.id, t.used_at) ORDER BY t.id), '[]')::text FROM one_time_tokens t",
    ),
    // The worker moves messages along; a refused request must not queue one.
    ("email_outbox", "SELECT count(*)::text FROM email_outbox"),
    (
        "avatars",
        "SELECT coalesce(json_agg(json_build_array(a.user_id, a.etag) ORDER BY a.user_id), '[]')::text FROM avatars a",
    ),
];

async fn snapshot(app: &TestApp) -> Snapshot {
    let mut tables = Vec::new();
    for (label, sql) in SNAPSHOT_SQL {
        let text: String = sqlx::query_scalar(sql)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        tables.push(format!("{label}: {text}"));
    }
    Snapshot {
        tables,
        audit_events: count(&app.pool, "SELECT count(*) FROM audit_events").await,
    }
}

/// Asserts that nothing at all was written since `before`.
async fn assert_unchanged(app: &TestApp, before: &Snapshot, context: &str) {
    let after = snapshot(app).await;
    assert_tables_unchanged(before, &after, context);
    assert_eq!(
        after.audit_events, before.audit_events,
        "{context}: audit events"
    );
}

fn assert_tables_unchanged(before: &Snapshot, after: &Snapshot, context: &str) {
    for (was, is) in before.tables.iter().zip(&after.tables) {
        assert_eq!(was, is, "{context}: a refused request wrote");
    }
}

/// Sends `body` as it is (not re-serialised), as JSON, with an optional bearer token.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request reaches the server")
}

/// A 422 `validation_failed` whose errors name `field`; returns that field's error code.
async fn invalid(response: reqwest::Response, field: &str) -> String {
    let body = problem(response, 422, "validation_failed").await;
    body["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["field"] == field))
        .and_then(|e| e["code"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no error naming `{field}` in {body}"))
}

/// A registration body that is valid but for what `changes` sets.
fn registration(changes: Value) -> Value {
    let mut body = json!({"email": "eve@example.com", "password": PASSWORD, "name": "Eve"});
    if let (Some(body), Some(changes)) = (body.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            body.insert(key.clone(), value.clone());
        }
    }
    body
}

/// Percent-encodes a query parameter value.
fn encoded(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Names of a listing page, in order.
fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `depth` objects nested in each other, `{"a":{"a":...1...}}`, as text.
fn nested_objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// `depth` arrays nested in each other, as text.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

async fn stored_name(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT name FROM users WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("name")
}

async fn stored_role(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT role FROM users WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("role")
}

// ---------------------------------------------------------------------------------------
// 1. SQL metacharacters and Unicode tricks in string fields and filters
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn registration_refuses_sql_shaped_addresses_and_control_characters_writing_nothing() {
    let app = TestApp::spawn().await;
    let before = snapshot(&app).await;
    let cases = [
        (json!({"email": "' OR 1=1 --@example.com"}), "email"),
        (
            json!({"email": "\"; DROP TABLE users; --@example.com"}),
            "email",
        ),
        (json!({"email": "eve@example.com' --"}), "email"),
        (
            json!({"email": "eve@example.com;DROP TABLE users"}),
            "email",
        ),
        (json!({"email": "eve\u{0}@example.com"}), "email"),
        (
            json!({"email": "eve\u{202E}moc.elpmaxe@example.com"}),
            "email",
        ),
        (json!({"email": "e\u{200D}ve@example.com"}), "email"),
        (json!({"email": "e\u{301}ve@example.com"}), "email"),
        (json!({"name": "Eve\u{0}Mallory"}), "name"),
        (json!({"name": "bell\u{7}"}), "name"),
        (json!({"name": "\u{1b}[31mred\u{1b}[0m"}), "name"),
        (json!({"name": "tab\tseparated"}), "name"),
        (json!({"name": "next\u{85}line"}), "name"),
        // Characters are code points: combining marks do not smuggle a longer name in.
        (json!({"name": "e\u{301}".repeat(51)}), "name"),
        (json!({"preferences": {"theme": "nul\u{0}"}}), "preferences"),
        (json!({"preferences": {"nul\u{0}key": 1}}), "preferences"),
    ];
    for (changes, field) in cases {
        let response = app.register_with(registration(changes.clone())).await;
        invalid(response, field).await;
    }
    assert_unchanged(&app, &before, "refused registrations").await;
}

#[tokio::test]
async fn sql_and_unicode_in_registration_fields_are_stored_as_plain_text() {
    let app = TestApp::spawn().await;
    let password = "' OR 1=1 -- and a long tail";
    // Names keep bidi controls, joiners and combining marks: scripts and emoji need them,
    // and a name only ever reaches JSON and (escaped) mail bodies. Addresses may carry the
    // ASCII specials RFC 5321 allows, quote and percent included.
    let people = [
        ("o'brien--@example.com", "Robert'); DROP TABLE users; --"),
        ("100%_sure@example.com", "\"; DROP TABLE users; --"),
        ("rtl@example.com", "Ada \u{202E}ecalevoL"),
        ("zwj@example.com", "\u{1F469}\u{200D}\u{1F4BB} Dev"),
        ("combining@example.com", "Zoe\u{308} Cre\u{301}pe"),
        ("backslash@example.com", "back\\slash %_"),
    ];
    for (email, name) in people {
        let body = json!({"email": email, "password": password, "name": name,
                          "preferences": {"'; DROP TABLE users; --": "1' OR '1'='1", "%": "_"}});
        let user = json_body(app.register_with(body).await, 201).await;
        assert_eq!(user["name"], name, "returned as sent");
        assert_eq!(user["email"], email);
        assert_eq!(
            user["preferences"],
            json!({"'; DROP TABLE users; --": "1' OR '1'='1", "%": "_"})
        );
        let id = user["id"].as_str().unwrap_or_default();
        assert_eq!(stored_name(&app, id).await, name, "stored as sent");
        // The password matched literally: only verification is missing.
        problem(app.login(email, password).await, 403, "email_not_verified").await;
        problem(
            app.login(email, "' OR 1=1 --").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM users").await,
        i64::try_from(people.len()).unwrap_or_default(),
        "one row per registration, and the table is still there"
    );

    // An injected address names no account; the refusal is audited against nobody.
    let failures = "SELECT count(*) FROM audit_events WHERE action = 'auth.login' AND outcome = 'failure' AND target_id IS NULL";
    let anonymous_failures = count(&app.pool, failures).await;
    let sessions = count(&app.pool, "SELECT count(*) FROM sessions").await;
    for email in ["' OR '1'='1", "' OR 1=1 --@example.com", "%@example.com"] {
        problem(
            app.login(email, "' OR '1'='1").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_eq!(count(&app.pool, failures).await, anonymous_failures + 3);
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM sessions").await,
        sessions
    );
}

#[tokio::test]
async fn profile_names_take_sql_literally_and_refuse_control_characters() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let patch = |body: Value| {
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&ada.token),
            Some(body),
        )
    };
    let before = snapshot(&app).await;
    for name in [
        "Ada\u{0}",
        "Ada\r\nBcc: evil@example.com",
        "\u{1b}[2J",
        "\u{7f}",
    ] {
        invalid(patch(json!({"name": name})).await, "name").await;
    }
    assert_unchanged(&app, &before, "refused profile names").await;

    for name in [
        "x' WHERE '1'='1",
        "'; UPDATE users SET role = 'admin'; --",
        "\u{202E}nimda",
    ] {
        let me = json_body(patch(json!({"name": name})).await, 200).await;
        assert_eq!(me["name"], name);
        assert_eq!(stored_name(&app, &ada.id).await, name);
        assert_eq!(stored_role(&app, &ada.id).await, "user");
    }
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM users WHERE role = 'admin'").await,
        1
    );
}

#[tokio::test]
async fn listing_filters_match_metacharacters_literally_or_name_the_bad_parameter() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for (email, name) in [
        ("percent@example.com", "100% Real"),
        ("under@example.com", "under_score"),
        ("back@example.com", "back\\slash"),
        ("quote@example.com", "O'Brien"),
        ("plain@example.com", "Plain Person"),
        ("rtl@example.com", "Ada \u{202E}ecalevoL"),
        ("100%_sure@example.com", "Sure Thing"),
    ] {
        app.invite(&admin, email, name, "user").await;
    }
    let list = |query: String| {
        let (app, token) = (&app, admin.token.clone());
        async move { app.get_as(&format!("/api/v1/users?{query}"), &token).await }
    };
    let before = snapshot(&app).await;

    for (q, expected) in [
        ("%", vec!["100% Real"]),
        ("_", vec!["under_score"]),
        ("\\", vec!["back\\slash"]),
        ("'", vec!["O'Brien"]),
        ("\u{202E}", vec!["Ada \u{202E}ecalevoL"]),
        ("' OR 1=1 --", vec![]),
        ("%' OR '1'='1", vec![]),
        ("\"; DROP TABLE users; --", vec![]),
        ("_%_%_", vec![]),
    ] {
        let page = json_body(list(format!("q={}&sort=name", encoded(q))).await, 200).await;
        assert_eq!(names(&page), expected, "q={q:?}");
    }
    for (email, expected) in [
        ("100%_sure@example.com", vec!["Sure Thing"]),
        ("100%%_sure@example.com", vec![]),
        ("1_0%_sure@example.com", vec![]),
    ] {
        let page = json_body(list(format!("email={}", encoded(email))).await, 200).await;
        assert_eq!(names(&page), expected, "email={email:?}");
    }

    for (parameter, value) in [
        ("q", "a\u{0}b"),
        ("q", "\u{1b}[31m"),
        ("q", &"%".repeat(101)),
        ("role", "admin' OR '1'='1"),
        ("role", "Admin"),
        ("status", "active;--"),
        ("sort", "name; DROP TABLE users"),
        ("sort", "created_at desc"),
        ("sort", "lower(name)"),
        ("order", "asc, id"),
        ("page", "1 OR 1=1"),
        ("page", "-1"),
        ("page", "99999999999999999999"),
        ("per_page", "1;--"),
        ("email", "' OR 1=1 --"),
        ("email", "\u{430}dmin@example.com"),
        ("created_after", "now()"),
        ("created_before", "'; --"),
    ] {
        let response = list(format!("{parameter}={}", encoded(value))).await;
        invalid(response, parameter).await;
    }
    // A parameter given twice is refused, naming it, rather than one copy winning silently.
    invalid(list("role=user&role=admin".into()).await, "role").await;
    assert_unchanged(&app, &before, "listing").await;
}

#[tokio::test]
async fn audit_filters_refuse_metacharacters_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let before = snapshot(&app).await;
    for (path, parameter, value) in [
        ("/api/v1/audit-events", "action", "auth.login' OR '1'='1"),
        ("/api/v1/audit-events", "action", "%"),
        ("/api/v1/audit-events", "outcome", "success'--"),
        ("/api/v1/audit-events", "actor_id", "1 OR 1=1"),
        ("/api/v1/audit-events", "target_id", "%"),
        ("/api/v1/audit-events", "from", "'"),
        ("/api/v1/audit-events", "to", "now()"),
        ("/api/v1/audit-events", "page", "0 OR 1=1"),
        ("/api/v1/users/me/audit-events", "action", "user.%"),
        ("/api/v1/users/me/audit-events", "outcome", "\u{0}"),
        ("/api/v1/users/me/audit-events", "from", "\u{202E}"),
    ] {
        let response = app
            .get_as(
                &format!("{path}?{parameter}={}", encoded(value)),
                &admin.token,
            )
            .await;
        invalid(response, parameter).await;
    }
    assert_unchanged(&app, &before, "audit filters").await;
}

#[tokio::test]
async fn instants_outside_what_the_database_holds_are_refused_not_a_500() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let before = snapshot(&app).await;
    // Each parses as a date-time, but lies outside PostgreSQL's range or RFC 3339's
    // four-digit years.
    for value in [
        "-9999-01-01T00:00:00Z",
        "-262143-01-01T00:00:00Z",
        "+262142-12-31T23:59:59Z",
        "+10000-01-01T00:00:00Z",
    ] {
        for (path, parameter) in [
            ("/api/v1/users", "created_after"),
            ("/api/v1/users", "created_before"),
            ("/api/v1/audit-events", "from"),
            ("/api/v1/audit-events", "to"),
            ("/api/v1/users/me/audit-events", "from"),
            ("/api/v1/users/me/audit-events", "to"),
        ] {
            let response = app
                .get_as(
                    &format!("{path}?{parameter}={}", encoded(value)),
                    &admin.token,
                )
                .await;
            assert_eq!(
                invalid(response, parameter).await,
                "out_of_range",
                "{path}?{parameter}={value}"
            );
        }
    }
    // The edges of the accepted range work.
    for value in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
        let page = json_body(
            app.get_as(
                &format!("/api/v1/users?created_after={}", encoded(value)),
                &admin.token,
            )
            .await,
            200,
        )
        .await;
        assert!(page["total"].is_i64(), "{value}");
    }
    assert_unchanged(&app, &before, "instants").await;
}

// ---------------------------------------------------------------------------------------
// 2. Look-alike email addresses
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn look_alike_addresses_never_reach_the_latin_account() {
    let app = TestApp::spawn().await;
    let setup = app.admin().await;
    let latin = app.member(&setup, "admin@example.com", "admin").await;
    let before = snapshot(&app).await;

    // Addresses are ASCII only, so look-alikes are refused wherever an address comes in.
    let look_alikes = [
        "\u{430}dmin@example.com",         // Cyrillic a
        "\u{ff41}dmin@example.com",        // fullwidth a
        "admin@ex\u{430}mple.com",         // Cyrillic a in the domain
        "adm\u{131}n@example.com",         // dotless i
        "admin\u{200B}@example.com",       // zero-width space
        "admin@example.com\u{200D}",       // zero-width joiner
        "a\u{301}dmin@example.com",        // combining accent
        "\u{202E}moc.elpmaxe@nimda",       // right-to-left override
        "admin@example.com\u{0}",          // NUL
        "admin@xn--exmple-cua.com\u{430}", // punycode with a trailing Cyrillic a
    ];
    for address in look_alikes {
        let context = format!("{address:?}");
        invalid(
            app.register_with(registration(json!({"email": address})))
                .await,
            "email",
        )
        .await;
        invalid(
            app.send(
                Method::POST,
                "/api/v1/users",
                Some(&setup.token),
                Some(json!({"email": address, "name": "Look-alike", "role": "admin"})),
            )
            .await,
            "email",
        )
        .await;
        invalid(
            app.send(
                Method::POST,
                "/api/v1/users/me/email",
                Some(&latin.token),
                Some(json!({"new_email": address, "current_password": PASSWORD})),
            )
            .await,
            "new_email",
        )
        .await;
        for path in [
            "/api/v1/auth/forgot-password",
            "/api/v1/auth/resend-verification",
        ] {
            invalid(app.post(path, json!({"email": address})).await, "email").await;
        }
        // Signing in with the look-alike and the real password fails like any wrong pair.
        problem(
            app.login(address, PASSWORD).await,
            401,
            "invalid_credentials",
        )
        .await;
        let after = snapshot(&app).await;
        assert_tables_unchanged(&before, &after, &context);
    }

    // Each refused sign-in was audited, against no account: not the Latin admin's.
    let failures: Vec<(Option<uuid::Uuid>,)> = sqlx::query_as(
        "SELECT target_id FROM audit_events WHERE action = 'auth.login' AND outcome = 'failure'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(failures.len(), look_alikes.len());
    assert!(failures.iter().all(|(target,)| target.is_none()));
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM audit_events").await,
        before.audit_events + i64::try_from(look_alikes.len()).unwrap_or_default(),
        "nothing else was recorded"
    );

    // Surrounding spaces are trimmed: that is the same mailbox, so it is taken.
    problem(
        app.register_with(registration(json!({"email": "  admin@example.com "})))
            .await,
        409,
        "email_taken",
    )
    .await;
    assert!(app.outbox_to("admin@example.com").await.is_empty());
}

// ---------------------------------------------------------------------------------------
// 3. Huge bodies
// ---------------------------------------------------------------------------------------

const TEN_MB: usize = 10 * 1024 * 1024;

/// A JSON document of about 10 MB: `fields` plus a huge string in `filler`.
fn ten_megabytes(fields: Value, filler: &str) -> String {
    let mut body = fields;
    body[filler] = json!("x".repeat(TEN_MB));
    body.to_string()
}

/// Posts a body of 10 MB in chunks, without a `Content-Length`, over a raw connection;
/// returns the status code of the answer.
async fn post_chunked(app: &TestApp, path: &str, body: String) -> u16 {
    let stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr
    );
    // Write in the background: the server may answer, and hang up, long before the end.
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for chunk in body.as_bytes().chunks(64 * 1024) {
            writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            writer.write_all(chunk).await?;
            writer.write_all(b"\r\n").await?;
        }
        writer.write_all(b"0\r\n\r\n").await
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Read until the status line is complete (or the server hangs up).
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    writing.abort();
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn ten_megabyte_bodies_are_413_and_write_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let before = snapshot(&app).await;

    let cases = [
        (
            Method::POST,
            "/api/v1/auth/register".to_owned(),
            None,
            ten_megabytes(
                json!({"email": "big@example.com", "password": PASSWORD}),
                "name",
            ),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me".to_owned(),
            Some(ada.token.as_str()),
            ten_megabytes(json!({}), "name"),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me".to_owned(),
            Some(ada.token.as_str()),
            format!(r#"{{"preferences":{{"x":"{}"}}}}"#, "y".repeat(TEN_MB)),
        ),
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            Some(admin.token.as_str()),
            ten_megabytes(json!({"email": "big@example.com", "role": "admin"}), "name"),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{}", ada.id),
            Some(admin.token.as_str()),
            ten_megabytes(json!({}), "name"),
        ),
    ];
    for (method, path, token, body) in cases {
        let response = send_raw(&app, method.clone(), &path, token, body).await;
        problem(response, 413, "payload_too_large").await;
        assert_unchanged(&app, &before, &format!("{method} {path}")).await;
    }

    // Without a declared length, the limit still holds while the body streams in.
    let status = post_chunked(
        &app,
        "/api/v1/auth/register",
        ten_megabytes(
            json!({"email": "chunked@example.com", "password": PASSWORD}),
            "name",
        ),
    )
    .await;
    assert_eq!(status, 413, "chunked register");
    assert_unchanged(&app, &before, "chunked register").await;
    assert_eq!(app.get("/health/live").await.status(), 200, "still serving");
}

#[tokio::test]
async fn with_rate_limits_on_the_limiter_reading_addresses_also_stops_at_the_limit() {
    // The limiter reads the address out of these bodies before any handler does.
    let app = TestApp::spawn_with(&["--rate-limit-enabled", "true"]).await;
    let before = snapshot(&app).await;
    let body = || {
        ten_megabytes(
            json!({"email": "big@example.com", "password": PASSWORD}),
            "name",
        )
    };
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/forgot-password",
        "/api/v1/auth/resend-verification",
    ] {
        let response = send_raw(&app, Method::POST, path, None, body()).await;
        problem(response, 413, "payload_too_large").await;
        assert_eq!(
            post_chunked(&app, path, body()).await,
            413,
            "chunked {path}"
        );
    }
    assert_unchanged(&app, &before, "10 MB through the limiter").await;
}

// ---------------------------------------------------------------------------------------
// 4. Deeply nested and oversized preferences
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn very_deep_json_is_a_400_problem_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let before = snapshot(&app).await;

    for deep in [nested_objects(10_000), nested_arrays(10_000)] {
        let register_body = format!(
            r#"{{"email":"deep@example.com","password":"{PASSWORD}","name":"Deep","preferences":{deep}}}"#
        );
        let patch_body = format!(r#"{{"preferences":{deep}}}"#);
        for (method, path, token, body) in [
            (
                Method::POST,
                "/api/v1/auth/register".to_owned(),
                None,
                register_body,
            ),
            (
                Method::PATCH,
                "/api/v1/users/me".to_owned(),
                Some(ada.token.as_str()),
                patch_body.clone(),
            ),
            (
                Method::PATCH,
                format!("/api/v1/users/{}", ada.id),
                Some(admin.token.as_str()),
                patch_body,
            ),
        ] {
            let response = send_raw(&app, method.clone(), &path, token, body).await;
            problem(response, 400, "malformed_request").await;
            assert_unchanged(&app, &before, &format!("{method} {path}")).await;
        }
    }
    assert_eq!(
        app.get("/health/live").await.status(),
        200,
        "no stack overflow"
    );
}

#[tokio::test]
async fn preferences_nested_over_32_levels_are_refused_and_shallower_ones_read_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let before = snapshot(&app).await;

    // 100 levels parse, but a page of users embedding them would be too deep for common
    // JSON parsers (serde_json stops at 128): refused, whichever body brings them.
    let deep = nested_objects(100);
    let cases = [
        (
            Method::POST,
            "/api/v1/auth/register".to_owned(),
            None,
            format!(
                r#"{{"email":"deep@example.com","password":"{PASSWORD}","name":"Deep","preferences":{deep}}}"#
            ),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me".to_owned(),
            Some(ada.token.as_str()),
            format!(r#"{{"preferences":{deep}}}"#),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{}", ada.id),
            Some(admin.token.as_str()),
            format!(r#"{{"preferences":{{"x":{}}}}}"#, nested_arrays(40)),
        ),
    ];
    for (method, path, token, body) in cases {
        let response = send_raw(&app, method.clone(), &path, token, body).await;
        assert_eq!(
            invalid(response, "preferences").await,
            "too_deep",
            "{method} {path}"
        );
        assert_unchanged(&app, &before, &format!("{method} {path}")).await;
    }

    // Exactly 32 levels are fine, and read back by every route that shows users.
    let limit: Value = serde_json::from_str(&nested_objects(32)).expect("JSON");
    let me = json_body(
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&ada.token),
            Some(json!({"preferences": limit})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me["preferences"], limit);
    // One more level under the existing ones, through a merge patch, is one too many.
    let before = snapshot(&app).await;
    let deeper: Value = serde_json::from_str(&nested_objects(33)).expect("JSON");
    assert_eq!(
        invalid(
            app.send(
                Method::PATCH,
                "/api/v1/users/me",
                Some(&ada.token),
                Some(json!({"preferences": deeper})),
            )
            .await,
            "preferences"
        )
        .await,
        "too_deep"
    );
    assert_unchanged(&app, &before, "merged over 32 levels").await;
    for (path, token) in [
        ("/api/v1/users/me".to_owned(), &ada.token),
        (format!("/api/v1/users/{}", ada.id), &admin.token),
    ] {
        let user = json_body(app.get_as(&path, token).await, 200).await;
        assert_eq!(user["preferences"], limit, "{path}");
    }
    let page = json_body(
        app.get_as("/api/v1/users?per_page=100", &admin.token).await,
        200,
    )
    .await;
    assert!(
        page["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|u| u["preferences"] == limit)),
        "the listing parses with a default JSON parser"
    );
}

#[tokio::test]
async fn preferences_over_16_kib_are_refused_even_when_grown_by_patches() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let before = snapshot(&app).await;
    let big = json!({"x": "y".repeat(17 * 1024)});
    assert_eq!(
        invalid(
            app.register_with(registration(json!({"preferences": big.clone()})))
                .await,
            "preferences"
        )
        .await,
        "too_large"
    );
    invalid(
        app.send(
            Method::PATCH,
            &format!("/api/v1/users/{}", ada.id),
            Some(&admin.token),
            Some(json!({"preferences": big})),
        )
        .await,
        "preferences",
    )
    .await;
    assert_unchanged(&app, &before, "oversized preferences").await;

    // Each patch is small, but the merged document would not be.
    let patch = |key: &str| {
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&ada.token),
            Some(json!({"preferences": {key: "z".repeat(10 * 1024)}})),
        )
    };
    json_body(patch("first").await, 200).await;
    let before = snapshot(&app).await;
    assert_eq!(
        invalid(patch("second").await, "preferences").await,
        "too_large"
    );
    assert_unchanged(&app, &before, "merged over 16 KiB").await;
}

// ---------------------------------------------------------------------------------------
// 5. Path traversal and ids that are not UUIDs
// ---------------------------------------------------------------------------------------

/// Every route with an `{id}` in its path, with a body that would be valid.
fn id_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/users/{id}", None),
        (
            Method::PATCH,
            "/api/v1/users/{id}",
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, "/api/v1/users/{id}", None),
        (
            Method::PUT,
            "/api/v1/users/{id}/role",
            Some(json!({"role": "admin"})),
        ),
        (Method::POST, "/api/v1/users/{id}/restore", None),
        (Method::DELETE, "/api/v1/users/{id}/sessions", None),
        (Method::GET, "/api/v1/users/{id}/avatar", None),
        (Method::DELETE, "/api/v1/users/me/sessions/{id}", None),
    ]
}

#[tokio::test]
async fn malformed_ids_on_every_id_route_are_404_problems() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    // 60,000 characters: near the longest URI the client sends at all (64 KiB).
    let (long, longer) = ("7".repeat(8 * 1024), "7".repeat(60_000));
    let bad_ids = [
        "..%2F..%2Fetc%2Fpasswd",
        "..%2F..%2F..%2Fapi%2Fv1%2Fusers%2Fme",
        "%2e%2e",
        "%00",
        "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d%00",
        "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6dff",
        "%FF%FE",
        "'%20OR%201=1%20--",
        "%27%3B%20DROP%20TABLE%20users%3B%20--",
        "-1",
        "1e3",
        "%20",
        long.as_str(),
        longer.as_str(),
        // Valid UUIDs of nobody.
        "00000000-0000-0000-0000-000000000000",
        "0193A5C4-7F0E-7C1A-9B1E-5D2F3A4B5C6D",
    ];
    let before = snapshot(&app).await;
    for (method, template, body) in id_routes() {
        for id in bad_ids {
            let path = template.replace("{id}", id);
            let response = app
                .send(method.clone(), &path, Some(&admin.token), body.clone())
                .await;
            let shown: String = path.chars().take(80).collect();
            assert_eq!(response.status(), 404, "{method} {shown}");
            problem(response, 404, "not_found").await;
        }
    }
    assert_unchanged(&app, &before, "malformed ids").await;

    // UUIDs are case-insensitive: an upper-case id is the same user, not another one.
    let upper = ada.id.to_uppercase();
    let found = json_body(
        app.get_as(&format!("/api/v1/users/{upper}"), &admin.token)
            .await,
        200,
    )
    .await;
    assert_eq!(found["id"], ada.id.as_str());
    // ... and gives a plain user no way around the rule that others are off limits.
    problem(
        app.get_as(
            &format!("/api/v1/users/{}", admin.id.to_uppercase()),
            &ada.token,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// 6. Header injection through names that reach email
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn names_cannot_inject_mail_headers() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let before = snapshot(&app).await;
    for name in [
        "Eve\r\nBcc: evil@example.com",
        "Eve\nBcc: evil@example.com",
        "Eve\rBcc: evil@example.com",
        "Eve\r\n\r\n<script>alert(1)</script>",
        "Eve\u{85}Bcc: evil@example.com",
    ] {
        assert_eq!(
            invalid(
                app.register_with(registration(json!({"name": name}))).await,
                "name"
            )
            .await,
            "invalid_characters"
        );
        invalid(
            app.send(
                Method::POST,
                "/api/v1/users",
                Some(&admin.token),
                Some(json!({"email": "eve@example.com", "name": name, "role": "user"})),
            )
            .await,
            "name",
        )
        .await;
        invalid(
            app.send(
                Method::PATCH,
                "/api/v1/users/me",
                Some(&ada.token),
                Some(json!({"name": name})),
            )
            .await,
            "name",
        )
        .await;
    }
    for path in [
        "/api/v1/auth/forgot-password",
        "/api/v1/auth/resend-verification",
    ] {
        invalid(
            app.post(
                path,
                json!({"email": "ada@example.com\r\nBcc: evil@example.com"}),
            )
            .await,
            "email",
        )
        .await;
    }
    assert_unchanged(&app, &before, "header injection").await;

    // Without line breaks, header-like text is just a name: it lands in the body only.
    let name = "Eve Bcc: evil@example.com\u{2028}Cc: evil@example.com";
    json_body(
        app.register_with(registration(
            json!({"email": "eve@example.com", "name": name}),
        ))
        .await,
        201,
    )
    .await;
    let mails = app.mail.wait_for("eve@example.com", 1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipients, ["eve@example.com"]);
    let headers = mails[0]
        .data
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    for header in headers.lines() {
        assert!(
            !header.starts_with("bcc:") && !header.starts_with("cc:"),
            "{header}"
        );
        assert!(!header.contains("evil@example.com"), "{header}");
    }
    assert!(
        app.mail
            .all()
            .iter()
            .all(|m| m.recipients.iter().all(|r| !r.contains("evil"))),
        "nothing for evil@example.com"
    );
    assert_eq!(
        app.outbox().await,
        [("verify_email".to_owned(), "eve@example.com".to_owned())],
        "one message queued, for eve only"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Login timing
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_emails_take_as_long_to_refuse_as_wrong_passwords() {
    // Rate limits are off in tests (helpers.rs), so no slowdown skews the wrong passwords.
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.member(&admin, "known@example.com", "user").await;
    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app.login(email, "not the password at all").await;
            let elapsed = started.elapsed();
            problem(response, 401, "invalid_credentials").await;
            elapsed
        }
    };
    // Warm up both paths (connection, caches, the hashing thread).
    timed("known@example.com").await;
    timed("nobody@example.com").await;

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..8 {
        // Alternate which goes first, so that drift in the machine's load hits both alike.
        if round % 2 == 0 {
            known.push(timed("known@example.com").await);
            unknown.push(timed("nobody@example.com").await);
        } else {
            unknown.push(timed("nobody@example.com").await);
            known.push(timed("known@example.com").await);
        }
    }
    let (known, unknown) = (median(known), median(unknown));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64().max(1e-6);
    assert!(
        (0.5..=2.0).contains(&ratio),
        "median unknown {unknown:?} vs known {known:?}: ratio {ratio:.2}"
    );
    // Every refusal was audited (9 each, warm-up included); only the known one names its
    // account.
    let failures = |sql: &'static str| count(&app.pool, sql);
    assert_eq!(
        failures("SELECT count(*) FROM audit_events WHERE action = 'auth.login' AND outcome = 'failure' AND target_id IS NOT NULL").await,
        9
    );
    assert_eq!(
        failures("SELECT count(*) FROM audit_events WHERE action = 'auth.login' AND outcome = 'failure' AND target_id IS NULL").await,
        9
    );
}

// ---------------------------------------------------------------------------------------
// 8. Mass assignment
// ---------------------------------------------------------------------------------------

/// Fields of the user resource (and a few more) that no client body may set, unless the
/// route is made for it.
const PROTECTED: &[(&str, &str)] = &[
    ("role", "\"admin\""),
    ("status", "\"active\""),
    ("email_verified", "true"),
    ("id", "\"0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d\""),
    ("created_at", "\"2000-01-01T00:00:00Z\""),
    ("updated_at", "\"2000-01-01T00:00:00Z\""),
    ("deactivated_at", "null"),
    ("last_login_at", "\"2000-01-01T00:00:00Z\""),
    ("avatar_url", "\"https://evil.example.com/a.png\""),
    (
        "password_hash",
        "\"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA\"",
    ),
    ("Role", "\"admin\""),
    ("email", "\"admin@example.com\""),
    ("user_id", "\"0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d\""),
];

/// A route that takes a JSON body, with a valid body for it.
struct Writable<'a> {
    method: Method,
    path: String,
    token: Option<&'a str>,
    body: String,
    /// Fields of [`PROTECTED`] this route legitimately takes.
    takes: &'static [&'static str],
}

/// Every route that takes a JSON body, acting on `ada` where it acts on someone.
fn writable_bodies<'a>(admin: &'a Actor, ada: &'a Actor) -> Vec<Writable<'a>> {
    let token_body = r#"{"token":"q4Xh2b0v8oK3s1Jm9tP6dW5rY7uZ2cE4fG8hL0nQ1aB"}"#;
    let route = |method: Method, path: &str, token: Option<&'a str>, body: String| Writable {
        method,
        path: path.to_owned(),
        token,
        body,
        takes: &[],
    };
    let (admin, ada_token) = (Some(admin.token.as_str()), Some(ada.token.as_str()));
    vec![
        route(
            Method::POST,
            "/api/v1/auth/register",
            None,
            format!(r#"{{"email":"eve@example.com","password":"{PASSWORD}","name":"Eve"}}"#),
        ),
        route(Method::PATCH, "/api/v1/users/me", ada_token, "{}".into()),
        route(
            Method::PATCH,
            &format!("/api/v1/users/{}", ada.id),
            admin,
            "{}".into(),
        ),
        Writable {
            takes: &["role", "email_verified"],
            ..route(
                Method::POST,
                "/api/v1/users",
                admin,
                r#"{"email":"eve@example.com","name":"Eve","role":"user"}"#.into(),
            )
        },
        Writable {
            takes: &["role"],
            ..route(
                Method::PUT,
                &format!("/api/v1/users/{}/role", ada.id),
                admin,
                r#"{"role":"manager"}"#.into(),
            )
        },
        route(
            Method::POST,
            "/api/v1/users/me/email",
            ada_token,
            format!(r#"{{"new_email":"new@example.com","current_password":"{PASSWORD}"}}"#),
        ),
        route(
            Method::PUT,
            "/api/v1/users/me/password",
            ada_token,
            format!(
                r#"{{"current_password":"{PASSWORD}","new_password":"another long passphrase"}}"#
            ),
        ),
        route(
            Method::DELETE,
            "/api/v1/users/me",
            ada_token,
            format!(r#"{{"current_password":"{PASSWORD}"}}"#),
        ),
        route(
            Method::POST,
            "/api/v1/auth/verify-email",
            None,
            token_body.into(),
        ),
        route(
            Method::POST,
            "/api/v1/auth/reset-password",
            None,
            with_member(token_body, "new_password", "\"another long passphrase\""),
        ),
        route(
            Method::POST,
            "/api/v1/auth/login",
            None,
            format!(r#"{{"email":"ada@example.com","password":"{PASSWORD}"}}"#),
        ),
    ]
}

/// `base` (a JSON object as text) with one more member.
fn with_member(base: &str, key: &str, value: &str) -> String {
    let inner = base.trim().trim_start_matches('{').trim_end_matches('}');
    let separator = if inner.trim().is_empty() { "" } else { "," };
    format!("{{{inner}{separator}\"{key}\":{value}}}")
}

#[tokio::test]
async fn protected_fields_are_refused_in_every_writable_body() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let before = snapshot(&app).await;

    for writable in writable_bodies(&admin, &ada) {
        let extra = PROTECTED.iter().copied().filter(|(field, _)| {
            !writable.takes.contains(field) && !writable.body.contains(&format!("\"{field}\""))
        });
        for (field, value) in extra {
            let body = with_member(&writable.body, field, value);
            let response = send_raw(
                &app,
                writable.method.clone(),
                &writable.path,
                writable.token,
                body,
            )
            .await;
            assert_eq!(
                invalid(response, field).await,
                "unknown_field",
                "{} {} {field}",
                writable.method,
                writable.path
            );
        }
    }
    // A field spelled with an escape is still that field.
    invalid(
        send_raw(
            &app,
            Method::PATCH,
            "/api/v1/users/me",
            Some(&ada.token),
            r#"{"\u0072ole":"admin"}"#,
        )
        .await,
        "role",
    )
    .await;
    // A field given twice is refused, naming it, instead of one copy winning silently.
    let role_path = format!("/api/v1/users/{}/role", ada.id);
    for (method, path, token, body, field) in [
        (
            Method::PATCH,
            "/api/v1/users/me",
            Some(ada.token.as_str()),
            r#"{"name":"Ada","name":"Mallory"}"#.to_owned(),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/auth/register",
            None,
            format!(
                r#"{{"email":"eve@example.com","email":"ada@example.com","password":"{PASSWORD}","name":"Eve"}}"#
            ),
            "email",
        ),
        (
            Method::PUT,
            role_path.as_str(),
            Some(admin.token.as_str()),
            r#"{"role":"user","role":"admin"}"#.to_owned(),
            "role",
        ),
    ] {
        let response = send_raw(&app, method.clone(), path, token, body).await;
        assert_eq!(
            invalid(response, field).await,
            "duplicate_field",
            "{method} {path}"
        );
    }
    assert_unchanged(&app, &before, "mass assignment").await;

    // Inside preferences the same names are just preference keys: no effect on the account.
    let me = json_body(
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&ada.token),
            Some(json!({"preferences": {"role": "admin", "status": "active", "email_verified": true}})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me["role"], "user");
    assert_eq!(me["preferences"]["role"], "admin");
    assert_eq!(stored_role(&app, &ada.id).await, "user");
    problem(
        app.get_as("/api/v1/users", &ada.token).await,
        403,
        "forbidden",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// 9. IDOR: acting on other people's ids
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_plain_user_can_neither_touch_nor_probe_other_users_ids() {
    // rbac_matrix.rs checks the status codes of these routes per role; this checks that
    // the refusals change nothing and do not tell an existing id from a made-up one.
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let bob = app.member(&admin, "bob@example.com", "user").await;
    let max = app.member(&admin, "max@example.com", "manager").await;
    let bob_session: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1::uuid LIMIT 1")
            .bind(&bob.id)
            .fetch_one(&app.pool)
            .await
            .expect("session");
    let nobody = uuid::Uuid::now_v7().to_string();
    let before = snapshot(&app).await;

    let mut answers = Vec::new();
    for (method, template, body) in id_routes() {
        // The avatar is public by contract, and /users/me/sessions/{id} takes session ids.
        if template.ends_with("/avatar") || template.contains("/me/") {
            continue;
        }
        for id in [bob.id.as_str(), nobody.as_str(), admin.id.as_str()] {
            let path = template.replace("{id}", id);
            let response = app
                .send(method.clone(), &path, Some(&ada.token), body.clone())
                .await;
            let mut answer = problem(response, 403, "forbidden").await;
            answer["request_id"] = Value::Null;
            answers.push(answer);
        }
        // A manager on an admin: refused alike.
        let path = template.replace("{id}", &admin.id);
        let response = app
            .send(method.clone(), &path, Some(&max.token), body.clone())
            .await;
        if method != Method::GET {
            problem(response, 403, "forbidden").await;
        }
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "an existing id and a made-up one get the same answer"
    );

    // Another person's session (or their user id) is not among one's own sessions.
    for id in [bob_session.to_string(), bob.id.clone()] {
        problem(
            app.send(
                Method::DELETE,
                &format!("/api/v1/users/me/sessions/{id}"),
                Some(&ada.token),
                None,
            )
            .await,
            404,
            "not_found",
        )
        .await;
    }
    // Filters cannot widen one's own audit history to someone else's.
    for parameter in ["actor_id", "target_id"] {
        let response = app
            .get_as(
                &format!("/api/v1/users/me/audit-events?{parameter}={}", bob.id),
                &ada.token,
            )
            .await;
        assert_eq!(invalid(response, parameter).await, "unknown_field");
    }
    for path in [
        format!("/api/v1/users?email={}", encoded(&bob.email)),
        format!("/api/v1/audit-events?target_id={}", bob.id),
    ] {
        problem(app.get_as(&path, &ada.token).await, 403, "forbidden").await;
    }
    assert_unchanged(&app, &before, "IDOR").await;
    assert_eq!(
        app.get_as("/api/v1/users/me", &bob.token).await.status(),
        200,
        "bob is still signed in"
    );
}

// ---------------------------------------------------------------------------------------
// 10. Tokens of demoted users
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_demoted_users_token_loses_the_old_role_on_the_next_request() {
    let app = TestApp::spawn().await;
    let root = app.admin().await;
    let second = app.admin().await;
    let max = app.member(&root, "max@example.com", "manager").await;
    let set_role = |id: &str, role: &str| {
        let path = format!("/api/v1/users/{id}/role");
        let (app, token, body) = (&app, root.token.clone(), json!({"role": role}));
        async move { app.send(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    // Still valid tokens: the role claim in them says admin and manager.
    assert_eq!(
        app.get_as("/api/v1/audit-events", &second.token)
            .await
            .status(),
        200
    );
    assert_eq!(app.get_as("/api/v1/users", &max.token).await.status(), 200);

    json_body(set_role(&second.id, "manager").await, 200).await;
    json_body(set_role(&max.id, "user").await, 200).await;
    let before = snapshot(&app).await;

    // The former admin, now a manager, holding a token that claims admin.
    for (method, path, body) in [
        (Method::GET, "/api/v1/audit-events".to_owned(), None),
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            Some(json!({"email": "sneaky@example.com", "name": "Sneaky", "role": "admin"})),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{}/role", max.id),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{}", root.id),
            Some(json!({"name": "Owned"})),
        ),
        (Method::DELETE, format!("/api/v1/users/{}", root.id), None),
        (
            Method::DELETE,
            format!("/api/v1/users/{}/sessions", root.id),
            None,
        ),
    ] {
        let response = app
            .send(method.clone(), &path, Some(&second.token), body)
            .await;
        problem(response, 403, "forbidden").await;
    }
    // What a manager may still do, it does.
    assert_eq!(
        app.get_as("/api/v1/users", &second.token).await.status(),
        200
    );

    // The former manager, now a plain user, holding a token that claims manager.
    for path in [
        "/api/v1/users".to_owned(),
        format!("/api/v1/users/{}", root.id),
    ] {
        problem(app.get_as(&path, &max.token).await, 403, "forbidden").await;
    }
    let me = json_body(app.get_as("/api/v1/users/me", &max.token).await, 200).await;
    assert_eq!(me["role"], "user", "the session lives on with the new role");
    assert_unchanged(&app, &before, "demoted tokens").await;
}
