//! `/api/v1/auth` end to end: real server, real PostgreSQL, real SMTP.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_one_winner, count, join_all, problem, within};
use crate::mail::MailSink;

/// Signs in with [`PASSWORD`]; returns the access and the refresh token.
async fn tokens(app: &TestApp, email: &str) -> (String, String) {
    let pair = app.token_pair(email, PASSWORD).await;
    let token = |name: &str| pair[name].as_str().unwrap_or_default().to_owned();
    (token("access_token"), token("refresh_token"))
}

/// Asserts that the session of an access and a refresh token has ended: neither works.
async fn assert_session_ended(app: &TestApp, access: &str, refresh: &str) {
    problem(
        app.post_bearer("/api/v1/auth/logout-all", access).await,
        401,
        "token_revoked",
    )
    .await;
    problem(app.refresh(refresh).await, 401, "invalid_token").await;
}

async fn audit_count(app: &TestApp, action: &str, outcome: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = $1 AND outcome = $2")
        .bind(action)
        .bind(outcome)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn register_verify_login_refresh_logout() {
    let app = TestApp::spawn().await;
    let response = app
        .register_with(
            json!({"email": "Ada@Example.com", "password": PASSWORD, "name": "  Ada Lovelace ", "preferences": {"theme": "dark"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let user: Value = response.json().await.expect("json");
    assert_eq!(
        location,
        format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default())
    );
    assert_eq!(user["status"], "pending_verification");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["email"], "Ada@Example.com");
    assert_eq!(user["name"], "Ada Lovelace", "stored trimmed");
    assert_eq!(user["role"], "user");
    assert_eq!(user["preferences"]["theme"], "dark");
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    problem(
        app.login("ada@example.com", PASSWORD).await,
        403,
        "email_not_verified",
    )
    .await;

    let mail = &app.mail.wait_for("Ada@Example.com", 1).await[0];
    assert_eq!(mail.subject(), "Confirm your email address");
    assert!(
        mail.data
            .contains("http://localhost:8080/verify-email?token="),
        "{}",
        mail.data
    );
    let token = mail.token_for("/verify-email").expect("token");
    let verified = app
        .post("/api/v1/auth/verify-email", json!({"token": token}))
        .await;
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.expect("json");
    assert_eq!(verified["status"], "active");
    assert_eq!(verified["email_verified"], true);
    problem(
        app.post("/api/v1/auth/verify-email", json!({"token": token}))
            .await,
        400,
        "invalid_verification_token",
    )
    .await;

    // The email compares case-insensitively.
    let response = app.login("ADA@example.COM", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pair: Value = response.json().await.expect("json");
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["refresh_expires_in"], 2_592_000);
    let access = pair["access_token"].as_str().unwrap_or_default();
    let first_refresh = pair["refresh_token"].as_str().unwrap_or_default();

    let rotated = app.refresh(first_refresh).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.expect("json");
    let second_refresh = rotated["refresh_token"].as_str().unwrap_or_default();
    assert_ne!(second_refresh, first_refresh);

    let logout = app
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(logout.status(), 204);
    let again = app
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(again.status(), 204, "logout is idempotent");
    problem(app.refresh(second_refresh).await, 401, "invalid_token").await;
    // The access token lived only as long as its session.
    problem(
        app.post_bearer("/api/v1/auth/logout-all", access).await,
        401,
        "token_revoked",
    )
    .await;

    for (action, outcome) in [
        ("user.registered", "success"),
        ("user.email_verified", "success"),
        ("auth.login", "success"),
        ("auth.login", "failure"),
        ("auth.logout", "success"),
    ] {
        assert_eq!(
            audit_count(&app, action, outcome).await,
            1,
            "{action} {outcome}"
        );
    }
}

#[tokio::test]
async fn the_mailed_pages_act_only_when_the_button_is_pressed() {
    let app = TestApp::spawn().await;
    app.register("grace@example.com").await;
    let token = app.mail.wait_for("grace@example.com", 1).await[0]
        .token_for("/verify-email")
        .expect("token");

    // A mail scanner prefetching the link sees a page with a button, nothing more.
    let page = app.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("form-action 'self'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains(&format!("value=\"{token}\"")) && html.contains("<button"));
    problem(
        app.login("grace@example.com", PASSWORD).await,
        403,
        "email_not_verified",
    )
    .await;

    let press = || async {
        app.client
            .post(app.url("/verify-email"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("send")
    };
    let pressed = press().await;
    assert_eq!(pressed.status(), 200);
    assert!(
        pressed
            .text()
            .await
            .unwrap_or_default()
            .contains("confirmed")
    );
    assert_eq!(app.login("grace@example.com", PASSWORD).await.status(), 200);

    let used = press().await;
    assert_eq!(used.status(), 400);
    assert!(
        used.text()
            .await
            .unwrap_or_default()
            .contains("does not work")
    );
}

#[tokio::test]
async fn the_pages_lead_on_to_the_app_or_say_they_can_be_closed() {
    for (flags, onward) in [
        (
            vec!["--app-url", "https://app.example.com/sign-in"],
            "<a href=\"https://app.example.com/sign-in\">Continue to sign in</a>",
        ),
        (vec![], "You can close this page."),
    ] {
        let app = TestApp::spawn_with(&flags).await;
        app.register("lin@example.com").await;
        let token = app.mail.wait_for("lin@example.com", 1).await[0]
            .token_for("/verify-email")
            .expect("token");
        for expected_status in [200, 400] {
            let page = app
                .client
                .post(app.url("/verify-email"))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .expect("send");
            assert_eq!(page.status(), expected_status);
            let html = page.text().await.unwrap_or_default();
            assert!(html.contains(onward), "{html}");
            assert!(!html.contains("sign-in page"), "{html}");
        }
        let reset = app
            .client
            .post(app.url("/reset-password"))
            .form(&[
                ("token", token.as_str()),
                ("new_password", "a new long passphrase"),
                ("confirm_password", "a new long passphrase"),
            ])
            .send()
            .await
            .expect("send");
        assert_eq!(
            reset.status(),
            400,
            "a used verification token resets nothing"
        );
        assert!(reset.text().await.unwrap_or_default().contains(onward));
    }
}

#[tokio::test]
async fn login_with_unknown_email_looks_like_wrong_password() {
    let app = TestApp::spawn().await;
    app.verified_user("known@example.com").await;
    let wrong_password = problem(
        app.login("known@example.com", "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown_email = problem(
        app.login("nobody@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let malformed = problem(
        app.login("not-an-email", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let strip = |mut v: Value| {
        v["request_id"] = Value::Null;
        v
    };
    assert_eq!(strip(wrong_password.clone()), strip(unknown_email));
    assert_eq!(strip(wrong_password), strip(malformed));
    assert_eq!(audit_count(&app, "auth.login", "failure").await, 3);
    // The failure that matched an account names it; the others name nobody.
    let targeted = count(&app.pool, "SELECT count(*) FROM audit_events WHERE action = 'auth.login' AND outcome = 'failure' AND target_id IS NOT NULL").await;
    assert_eq!(targeted, 1);
}

#[tokio::test]
async fn deactivated_accounts_cannot_sign_in_and_their_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let user = app.verified_user("gone@example.com").await;
    let (access, refresh_token) = tokens(&app, "gone@example.com").await;
    sqlx::query(
        "UPDATE users SET status = 'deactivated', deactivated_at = now() WHERE id = $1::uuid",
    )
    .bind(user["id"].as_str())
    .execute(&app.pool)
    .await
    .expect("deactivate");
    problem(
        app.login("gone@example.com", PASSWORD).await,
        403,
        "account_deactivated",
    )
    .await;
    problem(
        app.login("gone@example.com", "wrong password here").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_session_ended(&app, &access, &refresh_token).await;
}

#[tokio::test]
async fn registration_input_is_checked_field_by_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"email": "a@example.com", "password": "short", "name": "A"}),
            "password",
            "too_short",
        ),
        (
            json!({"email": "a@example.com", "password": "password123", "name": "A"}),
            "password",
            "too_common",
        ),
        (
            json!({"email": "joanna@example.com", "password": "my joanna passphrase", "name": "J"}),
            "password",
            "contains_email",
        ),
        (
            json!({"email": "not an email", "password": PASSWORD, "name": "A"}),
            "email",
            "invalid_email",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "   "}),
            "name",
            "required",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "x".repeat(101)}),
            "name",
            "too_long",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "A", "preferences": [1]}),
            "preferences",
            "invalid_type",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "A", "role": "admin"}),
            "role",
            "unknown_field",
        ),
        (
            json!({"email": "a@example.com", "name": "A"}),
            "password",
            "required",
        ),
    ];
    for (body, field, code) in cases {
        let response = app.register_with(body.clone()).await;
        let problem = problem(response, 422, "validation_failed").await;
        let errors = problem["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{body} -> {problem}"
        );
    }
    let users = count(&app.pool, "SELECT count(*) FROM users").await;
    assert_eq!(users, 0, "nothing was written");
}

#[tokio::test]
async fn a_taken_email_is_409_even_in_another_case() {
    let app = TestApp::spawn().await;
    app.register("taken@example.com").await;
    let again = app
        .register_with(json!({"email": "TAKEN@example.com", "password": PASSWORD, "name": "B"}))
        .await;
    problem(again, 409, "email_taken").await;
}

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_email_give_one_account() {
    let app = TestApp::spawn_with(&["--password-hash-threads", "2"]).await;
    let requests = (0..50).map(|_| {
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/register");
        let body = json!({"email": "race@example.com", "password": PASSWORD, "name": "Racer"});
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    });
    let statuses: Vec<u16> = join_all(requests).await;
    assert_eq!(statuses.len(), 50);
    assert_one_winner(&statuses, 201, 409);
    let users = count(&app.pool, "SELECT count(*) FROM users").await;
    assert_eq!(users, 1);
}

#[tokio::test]
async fn resend_verification_is_always_202_and_only_the_newest_link_works() {
    let app = TestApp::spawn().await;
    app.register("pending@example.com").await;
    app.verified_user("active@example.com").await;
    let first = app.mail.wait_for("pending@example.com", 1).await[0]
        .token_for("/verify-email")
        .expect("token");

    for email in [
        "pending@example.com",
        "active@example.com",
        "nobody@example.com",
    ] {
        let response = app
            .post("/api/v1/auth/resend-verification", json!({"email": email}))
            .await;
        assert_eq!(response.status(), 202, "{email}");
    }
    problem(
        app.post("/api/v1/auth/resend-verification", json!({"email": "nope"}))
            .await,
        422,
        "validation_failed",
    )
    .await;
    let mails = app.mail.wait_for("pending@example.com", 2).await;
    let second = mails[1].token_for("/verify-email").expect("token");
    assert_eq!(
        app.outbox_to("active@example.com").await,
        ["verify_email"],
        "no new mail for a verified account"
    );
    assert!(app.outbox_to("nobody@example.com").await.is_empty());

    problem(
        app.post("/api/v1/auth/verify-email", json!({"token": first}))
            .await,
        400,
        "invalid_verification_token",
    )
    .await;
    assert_eq!(
        app.post("/api/v1/auth/verify-email", json!({"token": second}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn forgot_and_reset_password_end_every_session() {
    let app = TestApp::spawn().await;
    app.verified_user("reset@example.com").await;
    let (access, refresh_token) = tokens(&app, "reset@example.com").await;

    for email in ["reset@example.com", "nobody@example.com"] {
        let response = app
            .post("/api/v1/auth/forgot-password", json!({"email": email}))
            .await;
        assert_eq!(response.status(), 202);
    }
    let mails = app.mail.wait_for("reset@example.com", 2).await;
    let mail = &mails[1];
    assert!(
        mail.data
            .contains("http://localhost:8080/reset-password?token=")
    );
    let token = mail.token_for("/reset-password").expect("token");

    let weak = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": token, "new_password": "password1"}),
        )
        .await;
    let body = problem(weak, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "new_password");

    let done = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": token, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(done.status(), 204);
    problem(
        app.post(
            "/api/v1/auth/reset-password",
            json!({"token": token, "new_password": "yet another passphrase"}),
        )
        .await,
        400,
        "invalid_reset_token",
    )
    .await;
    assert_session_ended(&app, &access, &refresh_token).await;
    problem(
        app.login("reset@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login("reset@example.com", "a brand new passphrase")
            .await
            .status(),
        200
    );
    assert!(app.outbox_to("nobody@example.com").await.is_empty());
    assert_eq!(
        audit_count(&app, "auth.password_reset_requested", "success").await,
        1
    );
    assert_eq!(audit_count(&app, "auth.password_reset", "success").await, 1);
}

#[tokio::test]
async fn a_reset_proves_the_mailbox_of_a_pending_account() {
    let app = TestApp::spawn().await;
    app.register("late@example.com").await;
    app.post(
        "/api/v1/auth/forgot-password",
        json!({"email": "late@example.com"}),
    )
    .await;
    let mails = app.mail.wait_for("late@example.com", 2).await;
    let token = mails
        .iter()
        .find_map(|m| m.token_for("/reset-password"))
        .expect("reset mail");
    let page = app
        .client
        .post(app.url("/reset-password"))
        .form(&[
            ("token", token.as_str()),
            ("new_password", "a brand new passphrase"),
            ("confirm_password", "a brand new passphrase"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("Password changed")
    );
    assert_eq!(
        app.login("late@example.com", "a brand new passphrase")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn reset_links_are_not_sent_to_deactivated_accounts() {
    let app = TestApp::spawn().await;
    let user = app.verified_user("off@example.com").await;
    sqlx::query(
        "UPDATE users SET status = 'deactivated', deactivated_at = now() WHERE id = $1::uuid",
    )
    .bind(user["id"].as_str())
    .execute(&app.pool)
    .await
    .expect("deactivate");
    let response = app
        .post(
            "/api/v1/auth/forgot-password",
            json!({"email": "off@example.com"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        app.outbox_to("off@example.com").await,
        ["verify_email"],
        "only the verification mail"
    );
}

#[tokio::test]
async fn refresh_reuse_within_the_grace_window_keeps_the_session() {
    let app = TestApp::spawn().await;
    app.verified_user("tabs@example.com").await;
    let (_, first) = tokens(&app, "tabs@example.com").await;
    let tab_one: Value = app.refresh(&first).await.json().await.expect("json");
    let tab_two = app.refresh(&first).await;
    assert_eq!(
        tab_two.status(),
        200,
        "a second tab refreshing at once is not signed out"
    );
    let tab_two: Value = tab_two.json().await.expect("json");
    for pair in [&tab_one, &tab_two] {
        let next = app
            .refresh(pair["refresh_token"].as_str().unwrap_or_default())
            .await;
        assert_eq!(next.status(), 200);
        let access = pair["access_token"].as_str().unwrap_or_default();
        let claims = decode_claims(access);
        assert_eq!(
            claims["sid"],
            decode_claims(tab_one["access_token"].as_str().unwrap_or_default())["sid"]
        );
    }
    assert_eq!(audit_count(&app, "auth.refresh_reused", "failure").await, 0);
}

#[tokio::test]
async fn refresh_reuse_after_the_grace_window_revokes_the_session() {
    let app = TestApp::spawn_with(&["--refresh-reuse-grace", "0"]).await;
    app.verified_user("thief@example.com").await;
    let (access, first) = tokens(&app, "thief@example.com").await;
    let rotated: Value = app.refresh(&first).await.json().await.expect("json");
    problem(app.refresh(&first).await, 401, "refresh_token_reused").await;
    // The whole session is gone: the newest refresh token and the access token too.
    assert_session_ended(
        &app,
        &access,
        rotated["refresh_token"].as_str().unwrap_or_default(),
    )
    .await;
    assert_eq!(audit_count(&app, "auth.refresh_reused", "failure").await, 1);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_without_grace_let_exactly_one_win() {
    let app = TestApp::spawn_with(&["--refresh-reuse-grace", "0"]).await;
    app.verified_user("race@example.com").await;
    let (_, token) = tokens(&app, "race@example.com").await;
    let requests = (0..10).map(|_| {
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/refresh");
        let body = json!({"refresh_token": token});
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    });
    let statuses = join_all(requests).await;
    assert_one_winner(&statuses, 200, 401);
}

#[tokio::test]
async fn logout_all_ends_every_session_at_once() {
    let app = TestApp::spawn().await;
    app.verified_user("many@example.com").await;
    let (phone, phone_refresh) = tokens(&app, "many@example.com").await;
    let (laptop, _) = tokens(&app, "many@example.com").await;
    assert_eq!(
        app.post_bearer("/api/v1/auth/logout-all", &laptop)
            .await
            .status(),
        204
    );
    assert_session_ended(&app, &phone, &phone_refresh).await;
    let open = count(
        &app.pool,
        "SELECT count(*) FROM sessions WHERE ended_at IS NULL",
    )
    .await;
    assert_eq!(open, 0);
}

#[tokio::test]
async fn smtp_down_at_registration_still_registers_and_the_mail_arrives_later() {
    let sink = MailSink::start().await;
    let addr = sink.addr;
    sink.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let app = TestApp::spawn_with_mail(&[], sink).await;
    app.register("patient@example.com").await;

    // The worker tries, fails, and schedules a retry.
    within(Duration::from_secs(10), "the worker tried", || async {
        count(
            &app.pool,
            "SELECT count(*) FROM email_outbox WHERE status = 'pending' AND last_error IS NOT NULL",
        )
        .await
            > 0
    })
    .await;

    let back = MailSink::start_on(addr).await;
    let mails = back.wait_for("patient@example.com", 1).await;
    assert!(mails[0].token_for("/verify-email").is_some());
    // Marked sent, the message is done with: the worker delivers a claimed message before
    // it marks it, and claims no sent one. One message, one delivery.
    within(
        Duration::from_secs(10),
        "the message is marked sent",
        || async {
            count(
                &app.pool,
                "SELECT count(*) FROM email_outbox WHERE status = 'sent'",
            )
            .await
                == 1
        },
    )
    .await;
    assert_eq!(app.outbox_to("patient@example.com").await, ["verify_email"]);
    assert_eq!(
        back.to("patient@example.com").len(),
        1,
        "delivered exactly once"
    );

    // Delivered mail keeps no content (it held a token) and never the address in clear.
    let (status, content, recipient): (String, Option<Vec<u8>>, Vec<u8>) =
        sqlx::query_as("SELECT status, content_ciphertext, recipient_ciphertext FROM email_outbox")
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_eq!(status, "sent");
    assert!(content.is_none());
    assert!(!String::from_utf8_lossy(&recipient).contains("patient"));
}

#[tokio::test]
async fn emails_are_stored_encrypted_with_a_blind_index() {
    let app = TestApp::spawn().await;
    app.register("secret@example.com").await;
    let (ciphertext, key_id, index): (Vec<u8>, String, Vec<u8>) =
        sqlx::query_as("SELECT email_ciphertext, email_key_id, email_blind_index FROM users")
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_eq!(key_id, "dev");
    assert!(!String::from_utf8_lossy(&ciphertext).contains("secret"));
    assert_eq!(index.len(), 32);
    let plain_anywhere = count(&app.pool, "SELECT count(*) FROM audit_events WHERE details::text ILIKE '%secret@%' OR user_agent ILIKE '%secret@%'").await;
    assert_eq!(plain_anywhere, 0);
}

/// The claims of a JWT, without checking it.
fn decode_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}
