//! Import and export (v2): NDJSON in and out, foreign password hashes verified at login
//! and replaced by Argon2id, `external_id`, invitations, dry runs and the audit trail.

use serde_json::{Value, json};

use crate::helpers::{
    Actor, PASSWORD, TestApp, TestDb, binary, count, join_all, json_body, problem,
};

const NDJSON: &str = "application/x-ndjson";

/// The reference hashes made by `scripts/make-hash-fixtures` with Python's own libraries.
fn fixtures() -> Vec<Value> {
    serde_json::from_str(include_str!("../fixtures/hashes.json")).unwrap_or_default()
}

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

async fn import(app: &TestApp, admin: &Actor, body: String, query: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/users/import{query}")))
        .bearer_auth(&admin.token)
        .header("content-type", NDJSON)
        .body(body)
        .send()
        .await
        .expect("import reaches the server")
}

async fn export(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/users/export{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("export reaches the server")
}

async fn stored_hash(app: &TestApp, email: &str) -> Option<String> {
    let index = app
        .state
        .deps()
        .email_index(&gatehouse::model::Email::parse(email).expect("a valid address"));
    sqlx::query_scalar("SELECT password_hash FROM users WHERE email_blind_index = $1")
        .bind(index)
        .fetch_one(&app.pool)
        .await
        .expect("the user exists")
}

#[tokio::test]
async fn an_import_creates_skips_and_reports_each_bad_line_by_number() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let bcrypt = fixtures()
        .into_iter()
        .find(|f| f["scheme"] == "bcrypt" && f["slow"] == false)
        .expect("a bcrypt fixture");
    let body = format!(
        "{}\n\n{}\n{}\n{}\n{}\n{}\nnot json\n{}\r\n",
        json!({"email": "ada@example.com", "name": "Ada", "external_id": "django:1",
               "password_hash": bcrypt["hash"], "created_at": "2019-04-01T09:30:00Z",
               "preferences": {"theme": "dark"}}),
        json!({"email": "grace@example.com", "name": "Grace", "role": "manager",
               "email_verified": false}),
        json!({"email": "ADA@example.com", "name": "Ada again"}),
        json!({"email": "bob@example", "name": "", "role": "root", "password_hash": "$1$md5",
               "extra": 1}),
        json!({"email": "carol@example.com", "name": "Carol", "external_id": "django:1"}),
        r#"{"email": "dan@example.com", "name": "Dan", "name": "Dan twice"}"#,
        json!({"email": "erin@example.com", "name": "Erin", "status": "deactivated"}),
    );
    let report = json_body(import(&app, &admin, body.clone(), "").await, 200).await;
    assert_eq!(
        (&report["created"], &report["skipped"], &report["failed"]),
        (&json!(3), &json!(1), &json!(4)),
        "{report}"
    );
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    let lines: Vec<i64> = errors.iter().filter_map(|e| e["line"].as_i64()).collect();
    assert_eq!(lines, [5, 6, 7, 8], "blank lines count: {report}");
    let fields = |at: usize| -> Vec<(String, String)> {
        errors[at]["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (text("field"), text("code"))
            })
            .collect()
    };
    let bob = fields(0);
    for field in ["extra", "email", "name", "role", "password_hash"] {
        assert!(bob.iter().any(|(f, _)| f == field), "{field}: {bob:?}");
    }
    assert!(bob.contains(&("extra".into(), "unknown_field".into())));
    assert!(bob.contains(&("password_hash".into(), "unrecognised_hash".into())));
    assert_eq!(errors[0]["email"], "bob@example");
    assert_eq!(fields(1), [("external_id".into(), "taken".into())]);
    assert_eq!(fields(2), [("name".into(), "duplicate_field".into())]);
    assert_eq!(fields(3), [("line".into(), "invalid_json".into())]);

    // Defaults, as the contract gives them, and what the line said.
    let listed = json_body(
        app.get_as("/api/v1/users?external_id=django:1", &admin.token)
            .await,
        200,
    )
    .await;
    let ada = &listed["items"][0];
    assert_eq!(listed["total"], 1);
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["external_id"], "django:1");
    assert_eq!(
        (&ada["role"], &ada["status"]),
        (&json!("user"), &json!("active"))
    );
    assert_eq!(ada["email_verified"], true);
    assert_eq!(ada["created_at"], "2019-04-01T09:30:00Z");
    assert_eq!(ada["preferences"], json!({"theme": "dark"}));
    let grace = json_body(
        app.get_as("/api/v1/users?email=grace@example.com", &admin.token)
            .await,
        200,
    )
    .await;
    assert_eq!(grace["items"][0]["status"], "pending_verification");
    assert_eq!(grace["items"][0]["role"], "manager");
    assert_eq!(grace["items"][0]["external_id"], Value::Null);
    let erin = count(
        &app.pool,
        "SELECT count(*) FROM users WHERE status = 'deactivated' AND deactivated_at IS NOT NULL",
    )
    .await;
    assert_eq!(erin, 1);
    // The kept counts follow a batch insert.
    let kept = count(&app.pool, "SELECT sum(n)::bigint FROM user_counts").await;
    assert_eq!(kept, count(&app.pool, "SELECT count(*) FROM users").await);

    // Imported users have no session; the trail has one event per user and one per run.
    assert_eq!(count(&app.pool, "SELECT count(*) FROM sessions").await, 1);
    assert_eq!(app.audited("action = 'user.imported'").await, 3);
    assert_eq!(
        app.audited(&format!(
            "action = 'user.imported' AND actor_id = '{}' AND details = '{{\"external_id\": \"django:1\"}}'",
            admin.id
        ))
        .await,
        1
    );
    assert_eq!(
        app.audited(
            "action = 'users.import_finished' AND details @> '{\"created\": 3, \"skipped\": 1, \"failed\": 4, \"complete\": true}'"
        )
        .await,
        1
    );

    // The same file again changes nothing.
    let again = json_body(import(&app, &admin, body, "").await, 200).await;
    assert_eq!(
        (&again["created"], &again["skipped"], &again["failed"]),
        (&json!(0), &json!(4), &json!(4)),
        "{again}"
    );
    assert_eq!(app.audited("action = 'user.imported'").await, 3);
}

#[tokio::test]
async fn a_dry_run_counts_as_the_import_would_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // More than one batch, with a repeat of the first address and of an external id in a
    // later batch: the dry run must remember what it would have created.
    let mut lines: Vec<Value> = (0..1100)
        .map(|n| {
            json!({"email": format!("user{n}@example.com"), "name": format!("User {n}"),
                         "external_id": format!("ext-{n}")})
        })
        .collect();
    lines.push(json!({"email": "USER0@example.com", "name": "Again"}));
    lines.push(json!({"email": "new@example.com", "name": "New", "external_id": "ext-3"}));
    lines.push(json!({"email": "admin@example.com", "name": 7}));
    let body = ndjson(&lines);
    let users_before = count(&app.pool, "SELECT count(*) FROM users").await;
    let events_before = count(&app.pool, "SELECT count(*) FROM audit_events").await;

    let dry = json_body(
        import(&app, &admin, body.clone(), "?dry_run=true").await,
        200,
    )
    .await;
    assert_eq!(
        (&dry["created"], &dry["skipped"], &dry["failed"]),
        (&json!(1100), &json!(1), &json!(2)),
        "{dry}"
    );
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM users").await,
        users_before
    );
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM audit_events").await,
        events_before
    );

    let real = json_body(import(&app, &admin, body, "").await, 200).await;
    assert_eq!(
        (
            &real["created"],
            &real["skipped"],
            &real["failed"],
            &real["errors"]
        ),
        (
            &dry["created"],
            &dry["skipped"],
            &dry["failed"],
            &dry["errors"]
        ),
        "a dry run reports what the import does"
    );
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM users").await,
        users_before + 1100
    );
}

#[tokio::test]
async fn every_hash_format_signs_in_once_right_and_is_replaced_by_argon2id() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let usable: Vec<Value> = fixtures()
        .into_iter()
        .filter(|f| f["slow"] == false)
        .collect();
    let lines: Vec<Value> = usable
        .iter()
        .enumerate()
        .map(|(n, f)| {
            json!({"email": format!("hash{n}@example.com"), "name": format!("Hash {n}"),
                              "password_hash": f["hash"]})
        })
        .collect();
    let report = json_body(import(&app, &admin, ndjson(&lines), "").await, 200).await;
    assert_eq!(report["created"], usable.len(), "{report}");
    // One stored hash of each kind (format and cost) is what a restart learns the costs of.
    let mut kinds: Vec<&str> = usable
        .iter()
        .filter_map(|f| f["hash"].as_str())
        .map(gatehouse::password_formats::kind)
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let samples = gatehouse::db::users::foreign_hash_samples(&app.pool)
        .await
        .expect("samples");
    assert_eq!(samples.len(), kinds.len(), "{samples:?}");
    gatehouse::auth::login::learn_hash_costs(app.state.deps()).await;
    assert!(app.state.deps().passwords.failure_floor() > std::time::Duration::ZERO);

    for (n, fixture) in usable.iter().enumerate() {
        let email = format!("hash{n}@example.com");
        let scheme = fixture["scheme"].as_str().unwrap_or_default();
        let password = fixture["password"].as_str().unwrap_or_default();
        let imported = stored_hash(&app, &email).await;
        assert_eq!(imported.as_deref(), fixture["hash"].as_str());

        problem(
            app.login(&email, &format!("{password}x")).await,
            401,
            "invalid_credentials",
        )
        .await;
        assert_eq!(
            stored_hash(&app, &email).await,
            imported,
            "{scheme}: a wrong password changes nothing"
        );

        let signed_in = app.login(&email, password).await;
        assert_eq!(signed_in.status(), 200, "{scheme}: {}", fixture["made_by"]);
        let now = stored_hash(&app, &email).await.unwrap_or_default();
        assert!(
            now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{scheme}: {now}"
        );
        assert_ne!(Some(now), imported);
        assert_eq!(last_rehash(&app).await, (email.clone(), scheme.to_owned()));
        // Afterwards it is an ordinary account: the same password, no second rehash.
        assert_eq!(app.login(&email, password).await.status(), 200);
    }
    assert_eq!(
        app.audited("action = 'auth.password_rehashed'").await,
        i64::try_from(usable.len()).unwrap_or_default()
    );

    // Argon2id made with older parameters is upgraded too.
    let params = argon2::Params::new(4096, 3, 1, None).expect("parameters");
    let older = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = argon2::password_hash::SaltString::generate(&mut rand::rngs::OsRng);
    let old_hash = argon2::PasswordHasher::hash_password(&older, PASSWORD.as_bytes(), &salt)
        .expect("an older hash")
        .to_string();
    let line = json!({"email": "old@example.com", "name": "Old", "password_hash": old_hash});
    json_body(import(&app, &admin, ndjson(&[line]), "").await, 200).await;
    assert_eq!(app.login("old@example.com", PASSWORD).await.status(), 200);
    assert_eq!(
        last_rehash(&app).await,
        ("old@example.com".into(), "argon2id".into())
    );
    let now = stored_hash(&app, "old@example.com")
        .await
        .unwrap_or_default();
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
}

/// The address and old scheme of the newest `auth.password_rehashed` event.
async fn last_rehash(app: &TestApp) -> (String, String) {
    let (target, scheme): (uuid::Uuid, String) = sqlx::query_as(
        "SELECT target_id, details->>'scheme' FROM audit_events
         WHERE action = 'auth.password_rehashed' ORDER BY occurred_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("a rehash event");
    let user = gatehouse::db::users::find(&app.pool, &app.state.deps().cipher, target)
        .await
        .ok()
        .flatten()
        .expect("its user");
    (user.email, scheme)
}

#[tokio::test]
async fn two_first_logins_at_once_rehash_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let fixture = fixtures()
        .into_iter()
        .find(|f| f["scheme"] == "django_pbkdf2_sha256" && f["slow"] == false)
        .expect("a Django fixture");
    let line =
        json!({"email": "twice@example.com", "name": "Twice", "password_hash": fixture["hash"]});
    json_body(import(&app, &admin, ndjson(&[line]), "").await, 200).await;
    let password = fixture["password"].as_str().unwrap_or_default();
    let url = app.url("/api/v1/auth/login");
    let logins = (0..4).map(|_| {
        let (client, url) = (app.client.clone(), url.clone());
        let body = json!({"email": "twice@example.com", "password": password});
        async move {
            let sent = client.post(url).json(&body).send().await;
            sent.map(|r| r.status().as_u16()).unwrap_or(0)
        }
    });
    let statuses = join_all(logins).await;
    assert_eq!(statuses, [200, 200, 200, 200]);
    assert_eq!(app.audited("action = 'auth.password_rehashed'").await, 1);
    let now = stored_hash(&app, "twice@example.com")
        .await
        .unwrap_or_default();
    assert!(now.starts_with("$argon2id$"));
    assert_eq!(app.login("twice@example.com", password).await.status(), 200);
}

#[tokio::test]
async fn an_invitation_is_mailed_when_asked_and_only_to_users_created() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.verified_user("taken@example.com").await;
    let lines = [
        json!({"email": "invited@example.com", "name": "Invited", "send_invitation": true}),
        json!({"email": "quiet@example.com", "name": "Quiet"}),
        json!({"email": "taken@example.com", "name": "Taken", "send_invitation": true}),
    ];
    let dry = json_body(
        import(&app, &admin, ndjson(&lines), "?dry_run=true").await,
        200,
    )
    .await;
    assert_eq!(dry["created"], 2);
    assert!(
        app.outbox_to("invited@example.com").await.is_empty(),
        "a dry run mails nothing"
    );

    let report = json_body(import(&app, &admin, ndjson(&lines), "").await, 200).await;
    assert_eq!(
        (&report["created"], &report["skipped"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(app.outbox_to("invited@example.com").await, ["invitation"]);
    assert!(app.outbox_to("quiet@example.com").await.is_empty());
    let taken = app.outbox_to("taken@example.com").await;
    assert!(!taken.contains(&"invitation".to_owned()), "{taken:?}");
}

#[tokio::test]
async fn the_export_streams_every_user_in_the_import_format_and_imports_elsewhere() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let manager = app.member(&admin, "manager@example.com", "manager").await;
    let bcrypt = fixtures()
        .into_iter()
        .find(|f| f["scheme"] == "bcrypt" && f["slow"] == false)
        .expect("a bcrypt fixture");
    let lines = [
        json!({"email": "kept@example.com", "name": "Kept", "external_id": "x-1",
               "password_hash": bcrypt["hash"], "preferences": {"a": [1, 2]}}),
        json!({"email": "gone@example.com", "name": "Gone", "status": "deactivated"}),
    ];
    json_body(import(&app, &admin, ndjson(&lines), "").await, 200).await;

    problem(export(&app, &manager.token, "").await, 403, "forbidden").await;
    let response = export(&app, &admin.token, "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some(NDJSON)
    );
    let text = response.text().await.unwrap_or_default();
    let exported: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(exported.len(), 4, "{text}");
    assert!(
        exported.iter().all(|u| u.get("password_hash").is_none()),
        "no hashes unless asked"
    );
    let kept = exported
        .iter()
        .find(|u| u["email"] == "kept@example.com")
        .expect("kept");
    assert_eq!(kept["external_id"], "x-1");
    assert_eq!(kept["preferences"], json!({"a": [1, 2]}));
    assert!(
        exported
            .iter()
            .any(|u| u["email"] == "gone@example.com" && u["status"] == "deactivated")
    );
    assert_eq!(
        app.audited(
            "action = 'users.exported' AND details = '{\"include_password_hashes\": false}'"
        )
        .await,
        1
    );

    let with_hashes = export(&app, &admin.token, "?include_password_hashes=true")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(with_hashes.contains(bcrypt["hash"].as_str().unwrap_or("?")));
    assert!(with_hashes.contains("$argon2id$"), "the admin's own hash");

    // The export is an import file: another service takes it as it is, and the person
    // signs in there with the password of the first system.
    let other = TestApp::spawn().await;
    let other_admin = other.admin().await;
    let report = json_body(import(&other, &other_admin, with_hashes, "").await, 200).await;
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(4), &json!(0)),
        "{report}"
    );
    let password = bcrypt["password"].as_str().unwrap_or_default();
    assert_eq!(
        other.login("kept@example.com", password).await.status(),
        200
    );
    assert_eq!(other.login(&admin.email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn only_admins_import_and_only_ndjson() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let manager = app.member(&admin, "manager@example.com", "manager").await;
    let line = ndjson(&[json!({"email": "x@example.com", "name": "X"})]);
    problem(
        import(&app, &manager, line.clone(), "").await,
        403,
        "forbidden",
    )
    .await;
    let as_json = app
        .client
        .post(app.url("/api/v1/users/import"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body(line.clone())
        .send()
        .await
        .expect("reaches");
    problem(as_json, 415, "unsupported_media_type").await;
    problem(
        import(&app, &admin, line, "?dry_run=maybe").await,
        422,
        "validation_failed",
    )
    .await;
    let anonymous = app
        .client
        .post(app.url("/api/v1/users/import"))
        .header("content-type", NDJSON)
        .body("{}")
        .send()
        .await
        .expect("reaches");
    assert_eq!(anonymous.status(), 401);
    problem(
        app.get_as("/api/v1/users?external_id=", &admin.token).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(count(&app.pool, "SELECT count(*) FROM users").await, 2);
}

#[tokio::test]
async fn a_line_longer_than_64_kib_fails_alone() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let long = json!({"email": "long@example.com", "name": "Long", "preferences": {"x": "y".repeat(70 * 1024)}});
    let body = ndjson(&[long, json!({"email": "short@example.com", "name": "Short"})]);
    let report = json_body(import(&app, &admin, body, "").await, 200).await;
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(report["errors"][0]["line"], 1);
    assert_eq!(report["errors"][0]["errors"][0]["code"], "too_long");
}

#[tokio::test]
async fn the_command_line_imports_a_file_and_exports_it_back() {
    use std::process::Command;
    let db = TestDb::empty().await;
    let dir = std::env::temp_dir().join(format!("gatehouse-import-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("users.ndjson");
    let lines = [
        json!({"email": "cli@example.com", "name": "Cli", "external_id": "c-1"}),
        json!({"email": "bad", "name": "Bad"}),
    ];
    std::fs::write(&file, ndjson(&lines)).expect("write the file");
    let run = |args: &[&str]| {
        Command::new(binary())
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env_remove("GATEHOUSE_ENV")
            .output()
            .expect("run")
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let file_arg = file.to_string_lossy().into_owned();

    let dry = run(&["import", "--dry-run", &file_arg]);
    assert!(!dry.status.success(), "a failed line fails the run");
    assert!(
        text(&dry.stdout).contains("would create 1, skipped 0, failed 1"),
        "{}",
        text(&dry.stdout)
    );
    assert!(
        text(&dry.stderr).contains("line 2: email"),
        "{}",
        text(&dry.stderr)
    );

    let imported = run(&["import", &file_arg]);
    assert_eq!(imported.status.code(), Some(1));
    assert!(text(&imported.stdout).contains("created 1, skipped 0, failed 1"));
    let again = run(&["import", &file_arg]);
    assert!(text(&again.stdout).contains("created 0, skipped 1, failed 1"));

    let exported = run(&["export"]);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let out = text(&exported.stdout);
    let users: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(users.len(), 1, "{out}");
    assert_eq!(users[0]["external_id"], "c-1");
    let pool = db.pool().await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM audit_events WHERE action = 'users.import_finished' AND actor_id IS NULL AND details->>'via' = 'command_line'").await,
        2
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_events WHERE action = 'users.exported'"
        )
        .await,
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn null_is_absent_where_the_format_allows_it_and_refused_where_it_does_not() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let lines = [
        json!({"email": "nulls@example.com", "name": "Nulls", "external_id": null,
               "password_hash": null, "created_at": null, "email_verified": null,
               "send_invitation": null}),
        json!({"email": "bad-nulls@example.com", "name": "Bad", "role": null, "status": null,
               "preferences": null}),
        // A known format, cut short; and one whose cost would pin a hashing thread.
        json!({"email": "cut@example.com", "name": "Cut", "password_hash": "$2b$12$tooshort"}),
        json!({"email": "slow@example.com", "name": "Slow",
               "password_hash": "pbkdf2_sha256$99000000$c2FsdA$5Jd3KsQXiJgHmvPjxDGTaTcRGrXw5hWlRkoPUTS8ea0="}),
    ];
    let report = json_body(import(&app, &admin, ndjson(&lines), "").await, 200).await;
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(1), &json!(3)),
        "{report}"
    );
    let hash_error = |at: usize| {
        let error = &report["errors"][at];
        (
            error["line"].clone(),
            error["errors"][0]["field"].clone(),
            error["errors"][0]["code"].clone(),
        )
    };
    assert_eq!(
        hash_error(1),
        (json!(3), json!("password_hash"), json!("malformed_hash"))
    );
    assert_eq!(
        hash_error(2),
        (json!(4), json!("password_hash"), json!("cost_out_of_range"))
    );
    let fields: Vec<&str> = report["errors"][0]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["role", "status", "preferences"]);
}
