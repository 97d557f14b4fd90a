//! `/api/v1/users/me` end to end.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, count, json_body, problem};

async fn audit_actions(app: &TestApp, user_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE target_id = $1::uuid ORDER BY occurred_at, id",
    )
    .bind(user_id)
    .fetch_all(&app.pool)
    .await
    .expect("audit")
}

#[tokio::test]
async fn the_profile_reads_and_merges_preferences() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let token = Some(ada.token.as_str());

    let me = json_body(app.get_as("/api/v1/users/me", &ada.token).await, 200).await;
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["avatar_url"], Value::Null);

    let patch = |body: Value| app.send(Method::PATCH, "/api/v1/users/me", token, Some(body));
    let me = json_body(patch(json!({"name": "  Ada King ", "preferences": {"theme": "dark", "locale": "en-GB", "a": {"b": 1}}})).await, 200).await;
    assert_eq!(me["name"], "Ada King");
    let me = json_body(
        patch(json!({"preferences": {"locale": null, "a": {"c": 2}}})).await,
        200,
    )
    .await;
    assert_eq!(
        me["preferences"],
        json!({"theme": "dark", "a": {"b": 1, "c": 2}})
    );
    assert_eq!(me["name"], "Ada King", "absent fields stay");
    let me = json_body(patch(json!({"preferences": null})).await, 200).await;
    assert_eq!(me["preferences"], json!({}));

    for (bad, field) in [
        (json!({"email": "x@example.com"}), "email"),
        (json!({"role": "admin"}), "role"),
        (json!({"status": "active"}), "status"),
        (json!({"name": ""}), "name"),
        (json!({"preferences": "dark"}), "preferences"),
        (
            json!({"preferences": {"x": "y".repeat(17 * 1024)}}),
            "preferences",
        ),
        (json!({"preferences": {"x": "nul\u{0}here"}}), "preferences"),
    ] {
        let answer = problem(patch(bad.clone()).await, 422, "validation_failed").await;
        assert_eq!(answer["errors"][0]["field"], field, "{bad}");
    }
    let me = json_body(app.get_as("/api/v1/users/me", &ada.token).await, 200).await;
    assert_eq!(me["role"], "user", "nothing changed by refused patches");
    let actions = audit_actions(&app, &ada.id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "user.profile_updated")
            .count(),
        3
    );
}

#[tokio::test]
async fn a_json_array_is_no_profile_change() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let patch = |body: Value| {
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(ada.token.as_str()),
            Some(body),
        )
    };
    json_body(patch(json!({"preferences": {"theme": "dark"}})).await, 200).await;

    // serde fills a struct from an array by position: this was `{"name": null,
    // "preferences": null}` and cleared the preferences.
    let answer = problem(patch(json!([null, null])).await, 422, "validation_failed").await;
    assert_eq!(
        answer["errors"][0]["message"],
        "the body must be a JSON object"
    );
    let me = json_body(app.get_as("/api/v1/users/me", &ada.token).await, 200).await;
    assert_eq!(me["preferences"], json!({"theme": "dark"}));
}

#[tokio::test]
async fn preferences_keep_extreme_numbers() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    // PostgreSQL prints jsonb numbers in full, f64::MAX as 309 digits: reading them back
    // failed (500) or gave a neighbouring float, until serde_json parsed them exactly.
    let preferences = json!({"max": f64::MAX, "min": f64::MIN, "tiny": 5e-324,
                             "big": 8.760507567994012e23, "odd": 5.586712853076766e193});
    let me = json_body(
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(ada.token.as_str()),
            Some(json!({"preferences": preferences.clone()})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me["preferences"], preferences);
    let me = json_body(app.get_as("/api/v1/users/me", &ada.token).await, 200).await;
    assert_eq!(me["preferences"], preferences);
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let laptop = app.token("ada@example.com", PASSWORD).await;
    let change = |current: &str, new: &str| {
        app.send(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&ada.token),
            Some(json!({"current_password": current, "new_password": new})),
        )
    };
    problem(
        change("wrong password!", "a new long passphrase").await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(change(PASSWORD, "short").await, 422, "validation_failed").await;
    assert_eq!(
        change(PASSWORD, "a new long passphrase").await.status(),
        204
    );

    assert_eq!(
        app.get_as("/api/v1/users/me", &ada.token).await.status(),
        200,
        "this session stays"
    );
    problem(
        app.get_as("/api/v1/users/me", &laptop).await,
        401,
        "token_revoked",
    )
    .await;
    problem(
        app.login("ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    app.token("ada@example.com", "a new long passphrase").await;
    assert!(
        audit_actions(&app, &ada.id)
            .await
            .contains(&"user.password_changed".to_owned())
    );
}

#[tokio::test]
async fn an_email_change_takes_effect_only_when_confirmed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    app.member(&admin, "taken@example.com", "user").await;
    let request = |new: &str, password: &str| {
        app.send(
            Method::POST,
            "/api/v1/users/me/email",
            Some(&ada.token),
            Some(json!({"new_email": new, "current_password": password})),
        )
    };
    problem(
        request("new@example.com", "wrong password!").await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(
        request("TAKEN@example.com", PASSWORD).await,
        409,
        "email_taken",
    )
    .await;
    problem(
        request("not-an-address", PASSWORD).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(request("new@example.com", PASSWORD).await.status(), 202);

    let confirm = app.mail.wait_for("new@example.com", 1).await;
    let notice = app.mail.wait_for("ada@example.com", 1).await;
    assert_eq!(notice[0].subject(), "Your email address is being changed");
    assert!(
        notice[0].token_for("/verify-email").is_none(),
        "the notice carries no link"
    );
    let me = json_body(app.get_as("/api/v1/users/me", &ada.token).await, 200).await;
    assert_eq!(
        me["email"], "ada@example.com",
        "not changed before confirmation"
    );

    let token = confirm[0].token_for("/verify-email").expect("link");
    let changed = json_body(
        app.post("/api/v1/auth/verify-email", json!({"token": token}))
            .await,
        200,
    )
    .await;
    assert_eq!(changed["email"], "new@example.com");
    app.token("new@example.com", PASSWORD).await;
    problem(
        app.login("ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    let actions = audit_actions(&app, &ada.id).await;
    assert!(actions.contains(&"user.email_change_requested".to_owned()));
    assert!(actions.contains(&"user.email_changed".to_owned()));
    let leaked = count(
        &app.pool,
        "SELECT count(*) FROM audit_events WHERE details::text LIKE '%@%'",
    )
    .await;
    assert_eq!(leaked, 0, "no address in audit details");
}

#[tokio::test]
async fn deleting_oneself_is_a_soft_delete_but_never_of_the_last_admin() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    async fn delete(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
        app.send(
            Method::DELETE,
            "/api/v1/users/me",
            Some(token),
            Some(json!({"current_password": password})),
        )
        .await
    }
    problem(
        delete(&app, &ada.token, "wrong password!").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(delete(&app, &ada.token, PASSWORD).await.status(), 204);
    problem(
        app.get_as("/api/v1/users/me", &ada.token).await,
        401,
        "token_revoked",
    )
    .await;
    problem(
        app.login("ada@example.com", PASSWORD).await,
        403,
        "account_deactivated",
    )
    .await;
    let kept = json_body(
        app.get_as(&format!("/api/v1/users/{}", ada.id), &admin.token)
            .await,
        200,
    )
    .await;
    assert_eq!(kept["status"], "deactivated");
    assert!(kept["deactivated_at"].is_string());

    problem(
        delete(&app, &admin.token, PASSWORD).await,
        409,
        "last_admin",
    )
    .await;
    assert_eq!(
        app.get_as("/api/v1/users/me", &admin.token).await.status(),
        200
    );
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let phone = app.token("ada@example.com", PASSWORD).await;

    let list = json_body(
        app.get_as("/api/v1/users/me/sessions", &ada.token).await,
        200,
    )
    .await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items.iter().all(|s| s["ip"] == "127.0.0.1"), "{items:?}");
    let other = items
        .iter()
        .find(|s| s["current"] == false)
        .map(|s| s["id"].clone())
        .unwrap_or_default();

    let admin_sessions = json_body(
        app.get_as("/api/v1/users/me/sessions", &admin.token).await,
        200,
    )
    .await;
    let admin_session = admin_sessions["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    problem(
        app.send(
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{admin_session}"),
            Some(&ada.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.send(
            Method::DELETE,
            "/api/v1/users/me/sessions/not-a-uuid",
            Some(&ada.token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;

    let path = format!(
        "/api/v1/users/me/sessions/{}",
        other.as_str().unwrap_or_default()
    );
    assert_eq!(
        app.send(Method::DELETE, &path, Some(&ada.token), None)
            .await
            .status(),
        204
    );
    problem(
        app.get_as("/api/v1/users/me", &phone).await,
        401,
        "token_revoked",
    )
    .await;
    problem(
        app.send(Method::DELETE, &path, Some(&ada.token), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert!(
        audit_actions(&app, &ada.id)
            .await
            .contains(&"user.session_revoked".to_owned())
    );
}

#[tokio::test]
async fn the_own_audit_history_pages_newest_first() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    for _ in 0..3 {
        app.token("ada@example.com", PASSWORD).await;
    }
    let page = json_body(
        app.get_as("/api/v1/users/me/audit-events?per_page=2", &ada.token)
            .await,
        200,
    )
    .await;
    assert_eq!(page["per_page"], 2);
    let total = page["total"].as_i64().unwrap_or(0);
    assert!(total >= 5, "created + 4 logins: {page}");
    assert_eq!(page["total_pages"], (total + 1) / 2);
    let first = &page["items"][0];
    assert_eq!(first["action"], "auth.login");
    assert_eq!(first["ip"], "127.0.0.1");
    let logins = json_body(
        app.get_as(
            "/api/v1/users/me/audit-events?action=auth.login&outcome=success",
            &ada.token,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(logins["total"], 4);
    let admins_events = json_body(
        app.get_as("/api/v1/users/me/audit-events", &admin.token)
            .await,
        200,
    )
    .await;
    assert!(admins_events["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .all(|e| e["actor_id"] == admin.id.as_str() || e["target_id"] == admin.id.as_str())
    }));
    problem(
        app.get_as("/api/v1/users/me/audit-events?per_page=0", &ada.token)
            .await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        app.get_as("/api/v1/users/me/audit-events?action=nope", &ada.token)
            .await,
        422,
        "validation_failed",
    )
    .await;
}
