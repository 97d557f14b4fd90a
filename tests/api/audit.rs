//! The audit trail: every audited action writes exactly one event with its actor, target,
//! outcome, ip, user agent and request id, and no event holds a secret.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, USER_AGENT, problem};

#[derive(Debug, sqlx::FromRow)]
struct Row {
    action: String,
    outcome: String,
    actor_id: Option<uuid::Uuid>,
    target_id: Option<uuid::Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
}

fn id(value: &Value) -> uuid::Uuid {
    value["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id")
}

#[tokio::test]
async fn every_audited_action_writes_exactly_one_complete_event_and_no_secret() {
    let app = TestApp::spawn_with(&[
        "--refresh-reuse-grace",
        "0",
        "--rate-limit-enabled",
        "true",
        "--rate-limit-recovery-per-email",
        "1/1h",
    ])
    .await;
    let admin = app.admin().await;
    let admin_id: uuid::Uuid = admin.id.parse().expect("uuid");
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        "a brand new passphrase".into(),
        "a changed passphrase!".into(),
    ];

    // Registration and verification.
    let ada_id = id(&app.register("ada@example.com").await);
    let token = app.mail.wait_for("ada@example.com", 1).await[0]
        .token_for("/verify-email")
        .expect("token");
    secrets.push(token.clone());
    assert_eq!(
        app.post("/api/v1/auth/verify-email", json!({"token": token}))
            .await
            .status(),
        200
    );

    // Login success and failure; refresh reuse; logout; logout-all.
    let first = app.token_pair("ada@example.com", PASSWORD).await;
    problem(
        app.login("ada@example.com", "not it at all").await,
        401,
        "invalid_credentials",
    )
    .await;
    let refresh = first["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    secrets.extend([
        refresh.clone(),
        first["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ]);
    assert_eq!(app.refresh(&refresh).await.status(), 200);
    problem(app.refresh(&refresh).await, 401, "refresh_token_reused").await;
    let second = app.token_pair("ada@example.com", PASSWORD).await;
    assert_eq!(
        app.post(
            "/api/v1/auth/logout",
            json!({"refresh_token": second["refresh_token"]})
        )
        .await
        .status(),
        204
    );
    let third = app.token_pair("ada@example.com", PASSWORD).await;
    let access = third["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        app.post_bearer("/api/v1/auth/logout-all", &access)
            .await
            .status(),
        204
    );

    // Password reset, and the refusal of a second request for the same address.
    assert_eq!(
        app.post(
            "/api/v1/auth/forgot-password",
            json!({"email": "ada@example.com"})
        )
        .await
        .status(),
        202
    );
    problem(
        app.post(
            "/api/v1/auth/forgot-password",
            json!({"email": "ada@example.com"}),
        )
        .await,
        429,
        "rate_limited",
    )
    .await;
    let mails = app.mail.wait_for("ada@example.com", 2).await;
    let reset = mails
        .iter()
        .find_map(|m| m.token_for("/reset-password"))
        .expect("reset link");
    secrets.push(reset.clone());
    let done = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": reset, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(done.status(), 204);

    // Self-service.
    let me = app
        .token_pair("ada@example.com", "a brand new passphrase")
        .await;
    let token = me["access_token"].as_str().unwrap_or_default().to_owned();
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        app.send(method, path, Some(&token), body)
    };
    assert_eq!(
        call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(json!({"name": "Ada K"}))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        call(Method::PUT, "/api/v1/users/me/password", Some(json!({"current_password": "a brand new passphrase", "new_password": "a changed passphrase!"}))).await.status(),
        204
    );
    // A wrong current password is a failed re-authentication.
    problem(
        call(
            Method::POST,
            "/api/v1/users/me/email",
            Some(
                json!({"new_email": "ada.k@example.com", "current_password": "not the passphrase"}),
            ),
        )
        .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        call(Method::POST, "/api/v1/users/me/email", Some(json!({"new_email": "ada.k@example.com", "current_password": "a changed passphrase!"}))).await.status(),
        202
    );
    let change = app.mail.wait_for("ada.k@example.com", 1).await[0]
        .token_for("/verify-email")
        .expect("link");
    secrets.push(change.clone());
    assert_eq!(
        app.post("/api/v1/auth/verify-email", json!({"token": change}))
            .await
            .status(),
        200
    );
    // The old address undoes the change with the link of its notice; every session ends.
    let revert = app
        .mail
        .wait_for("ada@example.com", 3)
        .await
        .iter()
        .find_map(|m| m.token_for("/revert-email"))
        .expect("revert link");
    secrets.push(revert.clone());
    assert_eq!(
        app.post("/api/v1/auth/revert-email", json!({"token": revert}))
            .await
            .status(),
        200
    );
    let me = app
        .token_pair("ada@example.com", "a changed passphrase!")
        .await;
    let token = me["access_token"].as_str().unwrap_or_default().to_owned();
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        app.send(method, path, Some(&token), body)
    };
    let mut png = Vec::new();
    image::DynamicImage::new_rgb8(4, 4)
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut png))
        .expect("png");
    let uploaded = app
        .client
        .put(app.url("/api/v1/users/me/avatar"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .expect("send");
    assert_eq!(uploaded.status(), 200);
    assert_eq!(
        call(Method::DELETE, "/api/v1/users/me/avatar", None)
            .await
            .status(),
        204
    );
    // Two-step sign-in: on, a wrong code at sign-in, new recovery codes, off again.
    let started: Value = call(
        Method::POST,
        "/api/v1/users/me/mfa/totp",
        Some(json!({"current_password": "a changed passphrase!"})),
    )
    .await
    .json()
    .await
    .expect("json");
    let base32 = started["secret"].as_str().unwrap_or_default().to_owned();
    secrets.push(base32.clone());
    let secret = gatehouse::mfa::TotpSecret::from_base32(&base32).expect("base32");
    let code = gatehouse::mfa::code_at(&secret, gatehouse::mfa::now());
    let confirmed: Value = call(
        Method::POST,
        "/api/v1/users/me/mfa/totp/confirm",
        Some(json!({"code": code})),
    )
    .await
    .json()
    .await
    .expect("json");
    let first_codes: Vec<String> =
        serde_json::from_value(confirmed["recovery_codes"].clone()).expect("recovery codes");
    secrets.extend(first_codes.iter().cloned());
    let challenge = problem(
        app.login("ada@example.com", "a changed passphrase!").await,
        401,
        "mfa_required",
    )
    .await;
    let mfa_token = challenge["mfa_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    secrets.push(mfa_token.clone());
    problem(
        app.post(
            "/api/v1/auth/login/mfa",
            json!({"mfa_token": mfa_token, "recovery_code": "00000-00000"}),
        )
        .await,
        401,
        "invalid_mfa_code",
    )
    .await;
    let regenerated: Value = call(
        Method::POST,
        "/api/v1/users/me/mfa/recovery-codes",
        Some(json!({"current_password": "a changed passphrase!", "code": first_codes[0]})),
    )
    .await
    .json()
    .await
    .expect("json");
    let second_codes: Vec<String> =
        serde_json::from_value(regenerated["recovery_codes"].clone()).expect("codes");
    secrets.extend(second_codes.iter().cloned());
    assert_eq!(
        call(
            Method::DELETE,
            "/api/v1/users/me/mfa/totp",
            Some(json!({"current_password": "a changed passphrase!", "code": second_codes[0]}))
        )
        .await
        .status(),
        204
    );

    // Passkeys: added, renamed, removed.
    let options: Value = call(
        Method::POST,
        "/api/v1/users/me/passkeys/options",
        Some(json!({"current_password": "a changed passphrase!"})),
    )
    .await
    .json()
    .await
    .expect("json");
    let (_, credential) =
        crate::soft_passkey::SoftPasskey::register(&options["publicKey"], "http://localhost:8080");
    let passkey: Value = call(
        Method::POST,
        "/api/v1/users/me/passkeys",
        Some(json!({"challenge_id": options["challenge_id"], "name": "Key", "credential": credential})),
    )
    .await
    .json()
    .await
    .expect("json");
    let passkey_path = format!("/api/v1/users/me/passkeys/{}", id(&passkey));
    for (method, body, status) in [
        (Method::PATCH, Some(json!({"name": "Old key"})), 200),
        (Method::DELETE, None, 204),
    ] {
        let answer = app.send(method, &passkey_path, Some(&token), body).await;
        assert_eq!(answer.status(), status);
    }

    let other = app
        .token_pair("ada@example.com", "a changed passphrase!")
        .await;
    let sessions: Value = app
        .get_as("/api/v1/users/me/sessions", &token)
        .await
        .json()
        .await
        .expect("json");
    let other_session = sessions["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["current"] == false))
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .expect("another session");
    secrets.push(
        other["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{other_session}"),
            Some(&token),
            None
        )
        .await
        .status(),
        204
    );

    // Administration of another account.
    let bob = app
        .send(
            Method::POST,
            "/api/v1/users",
            Some(&admin.token),
            Some(json!({"email": "bob@example.com", "name": "Bob", "role": "user"})),
        )
        .await;
    let bob_id = id(&bob.json().await.expect("user"));
    let bob_path = |suffix: &str| format!("/api/v1/users/{bob_id}{suffix}");
    assert_eq!(
        app.send(
            Method::PUT,
            &bob_path("/role"),
            Some(&admin.token),
            Some(json!({"role": "manager"}))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.send(
            Method::DELETE,
            &bob_path("/sessions"),
            Some(&admin.token),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.send(Method::DELETE, &bob_path(""), Some(&admin.token), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.send(
            Method::POST,
            &bob_path("/restore"),
            Some(&admin.token),
            None
        )
        .await
        .status(),
        200
    );
    // An import, the imported user's first login (its bcrypt hash replaced), an export.
    let fixtures: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/hashes.json")).unwrap_or_default();
    let bcrypt = fixtures
        .iter()
        .find(|f| f["scheme"] == "bcrypt" && f["slow"] == false)
        .expect("a bcrypt fixture");
    let line = json!({"email": "carl@example.com", "name": "Carl", "external_id": "carl",
                      "password_hash": bcrypt["hash"]});
    let imported = app
        .client
        .post(app.url("/api/v1/users/import"))
        .bearer_auth(&admin.token)
        .header("user-agent", USER_AGENT)
        .header("content-type", "application/x-ndjson")
        .body(format!("{line}\n"))
        .send()
        .await
        .expect("import");
    assert_eq!(imported.status(), 200);
    let carl: Value = app
        .get_as("/api/v1/users?external_id=carl", &admin.token)
        .await
        .json()
        .await
        .expect("a page");
    let carl_id: uuid::Uuid = carl["items"][0]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("carl's id");
    let password = bcrypt["password"].as_str().unwrap_or_default();
    assert_eq!(app.login("carl@example.com", password).await.status(), 200);
    assert_eq!(
        app.get_as("/api/v1/users/export", &admin.token)
            .await
            .status(),
        200
    );

    // Self-deletion: actor and target are the same.
    assert_eq!(
        app.send(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"current_password": "a changed passphrase!"}))
        )
        .await
        .status(),
        204
    );

    let (ada, bob, admin, carl) = (Some(ada_id), Some(bob_id), Some(admin_id), Some(carl_id));
    let expected: &[(&str, &str, Option<uuid::Uuid>, Option<uuid::Uuid>)] = &[
        ("user.registered", "success", ada, ada),
        ("user.email_verified", "success", ada, ada),
        ("auth.login", "failure", None, ada),
        ("auth.refresh_reused", "failure", ada, ada),
        ("auth.logout", "success", ada, ada),
        ("auth.logout_all", "success", ada, ada),
        ("auth.password_reset_requested", "success", ada, ada),
        ("auth.rate_limited", "failure", None, None),
        ("auth.password_reset", "success", ada, ada),
        ("user.profile_updated", "success", ada, ada),
        ("user.password_changed", "success", ada, ada),
        ("user.email_change_requested", "success", ada, ada),
        ("user.email_changed", "success", ada, ada),
        ("user.reauth_failed", "failure", ada, ada),
        ("user.email_change_reverted", "success", ada, ada),
        ("user.avatar_updated", "success", ada, ada),
        ("user.avatar_removed", "success", ada, ada),
        ("user.mfa_enabled", "success", ada, ada),
        ("auth.mfa_failed", "failure", ada, ada),
        ("user.recovery_codes_regenerated", "success", ada, ada),
        ("user.mfa_disabled", "success", ada, ada),
        ("user.passkey_added", "success", ada, ada),
        ("user.passkey_renamed", "success", ada, ada),
        ("user.passkey_removed", "success", ada, ada),
        ("user.session_revoked", "success", ada, ada),
        ("user.created", "success", admin, bob),
        ("user.role_changed", "success", admin, bob),
        ("user.sessions_revoked", "success", admin, bob),
        ("user.deactivated", "success", admin, bob),
        ("user.restored", "success", admin, bob),
        ("user.deactivated", "success", ada, ada),
        ("user.imported", "success", admin, carl),
        ("users.import_finished", "success", admin, None),
        ("auth.password_rehashed", "success", carl, carl),
        ("users.exported", "success", admin, None),
    ];
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT action, outcome, actor_id, target_id, host(ip) AS ip, user_agent, request_id FROM audit_events",
    )
    .fetch_all(&app.pool)
    .await
    .expect("rows");
    for (action, outcome, actor, target) in expected {
        let matching: Vec<&Row> = rows
            .iter()
            .filter(|r| {
                r.action == *action
                    && r.outcome == *outcome
                    && r.actor_id == *actor
                    && r.target_id == *target
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{action} {outcome} by {actor:?} on {target:?}: {rows:#?}"
        );
        let row = matching[0];
        assert_eq!(row.ip.as_deref(), Some("127.0.0.1"), "{action}");
        assert_eq!(row.user_agent.as_deref(), Some(USER_AGENT), "{action}");
        assert!(
            row.request_id.as_deref().is_some_and(|r| !r.is_empty()),
            "{action}"
        );
    }
    // Every action of the contract was exercised.
    for action in gatehouse::model::Action::ALL {
        assert!(
            expected.iter().any(|(a, ..)| *a == action.as_str()),
            "{} not covered",
            action.as_str()
        );
    }

    let everything: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(e)::text FROM audit_events e")
            .fetch_all(&app.pool)
            .await
            .expect("rows");
    for row in &everything {
        assert!(!row.contains('@'), "an email address in {row}");
        for secret in &secrets {
            assert!(!row.contains(secret.as_str()), "a secret in {row}");
        }
    }
}

#[tokio::test]
async fn admins_filter_the_trail_and_others_may_not_read_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let manager = app.member(&admin, "max@example.com", "manager").await;
    problem(
        app.login("ada@example.com", "not it at all").await,
        401,
        "invalid_credentials",
    )
    .await;

    let get = |query: &str| {
        let path = format!("/api/v1/audit-events?{query}");
        let (app, token) = (&app, admin.token.clone());
        async move { app.get_as(&path, &token).await }
    };
    let all: Value = get("").await.json().await.expect("json");
    let total = all["total"].as_i64().unwrap_or(0);
    assert!(total >= 6, "{all}");
    let failures: Value = get("outcome=failure").await.json().await.expect("json");
    assert_eq!(failures["total"], 1);
    assert_eq!(failures["items"][0]["target_id"], ada.id.as_str());
    let by_admin: Value = get(&format!("actor_id={}&action=user.created", admin.id))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(by_admin["total"], 2);
    let about_ada: Value = get(&format!("target_id={}", ada.id))
        .await
        .json()
        .await
        .expect("json");
    assert!(
        about_ada["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|e| e["target_id"] == ada.id.as_str()))
    );
    let future: Value = get("from=2999-01-01T00:00:00Z")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(future["total"], 0);
    let window: Value = get("to=2000-01-01T00:00:00Z")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(window["total"], 0);
    let paged = get("per_page=2&page=2").await;
    let link = paged
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        link.contains("rel=\"prev\"") && link.contains("rel=\"next\""),
        "{link}"
    );

    for (query, field) in [
        ("actor_id=nope", "actor_id"),
        ("action=user.exploded", "action"),
        ("outcome=maybe", "outcome"),
        ("from=today", "from"),
    ] {
        let answer = problem(get(query).await, 422, "validation_failed").await;
        assert_eq!(answer["errors"][0]["field"], field, "{query}");
    }
    problem(
        app.get_as("/api/v1/audit-events", &manager.token).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.get_as("/api/v1/audit-events", &ada.token).await,
        403,
        "forbidden",
    )
    .await;
}
