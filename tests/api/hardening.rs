//! The attacks of the security review (issue 13), each performed against the service:
//! re-authentication as a password oracle, the email-change life cycle, the mail relay,
//! and the smaller leaks. (Rate-limit keys: tests/api/rate_limits.rs; a vanished
//! database: tests/api/faults.rs; secrets in `Debug`: tests/api/debug_output.rs.)

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, problem};

const NEW_PASSWORD: &str = "a fresh long passphrase";

async fn change_email(
    app: &TestApp,
    token: &str,
    new_email: &str,
    password: &str,
) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/users/me/email",
        Some(token),
        Some(json!({"new_email": new_email, "current_password": password})),
    )
    .await
}

/// Asks to change the caller's address to `new_email` (202) and returns the confirmation
/// link's token mailed there.
async fn pending_change(app: &TestApp, token: &str, new_email: &str) -> String {
    let asked = change_email(app, token, new_email, PASSWORD).await;
    assert_eq!(asked.status(), 202);
    app.mail.wait_for(new_email, 1).await[0]
        .token_for("/verify-email")
        .expect("confirmation link")
}

/// [`pending_change`], confirmed: the account's address is `new_email`.
async fn completed_change(app: &TestApp, token: &str, new_email: &str) {
    let confirm = pending_change(app, token, new_email).await;
    let confirmed = app
        .post("/api/v1/auth/verify-email", json!({"token": confirm}))
        .await;
    assert_eq!(confirmed.status(), 200);
}

/// A stolen session guesses the password through `current_password`: every guess is
/// audited, and the fifth wrong one in a row ends the session, with rate limits off.
#[tokio::test]
async fn current_password_guesses_are_audited_and_end_the_session() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    for guess in 1..=4 {
        let refused = change_email(
            &app,
            &token,
            "eve@example.com",
            &format!("guess number {guess}"),
        )
        .await;
        problem(refused, 401, "invalid_credentials").await;
    }
    assert_eq!(app.audited("action = 'user.reauth_failed'").await, 4);
    let fifth = change_email(&app, &token, "eve@example.com", "guess number 5").await;
    problem(fifth, 401, "token_revoked").await;
    problem(
        app.get_as("/api/v1/users/me", &token).await,
        401,
        "token_revoked",
    )
    .await;
    let row: (Option<uuid::Uuid>, Option<uuid::Uuid>, String) = sqlx::query_as(
        "SELECT actor_id, target_id, outcome FROM audit_events WHERE action = 'user.reauth_failed'
         ORDER BY occurred_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("audit");
    assert_eq!(row.0, row.1, "actor = target = the caller");
    assert_eq!(row.2, "failure");
    assert!(
        app.outbox_to("eve@example.com").await.is_empty(),
        "no mail to the guesser"
    );

    // A right password resets the count: four wrong, one right, four wrong keep a session.
    let token = app.token("ada@example.com", PASSWORD).await;
    for round in 0..2 {
        for guess in 1..=4 {
            let refused = app
                .send(
                    Method::DELETE,
                    "/api/v1/users/me",
                    Some(&token),
                    Some(json!({"current_password": format!("wrong {round} {guess}")})),
                )
                .await;
            problem(refused, 401, "invalid_credentials").await;
        }
        if round == 0 {
            let right = change_email(&app, &token, "ada.new@example.com", PASSWORD).await;
            assert_eq!(right.status(), 202);
        }
    }
    assert_eq!(app.get_as("/api/v1/users/me", &token).await.status(), 200);
}

/// Past the hourly budget of failures per user, attempts are refused before any check:
/// no more guesses, no more hashing.
#[tokio::test]
async fn failed_reauthentications_are_capped_per_user_and_hour() {
    let app = TestApp::spawn_with(&[
        "--rate-limit-enabled",
        "true",
        "--reauth-failure-budget",
        "3",
    ])
    .await;
    app.verified_user("ada@example.com").await;
    let mut failures = 0;
    while failures < 3 {
        // A new session before the fifth failure of one would end it.
        let token = app.token("ada@example.com", PASSWORD).await;
        for _ in 0..2.min(3 - failures) {
            let refused = change_email(&app, &token, "eve@example.com", "a wrong guess").await;
            problem(refused, 401, "invalid_credentials").await;
            failures += 1;
        }
    }
    let token = app.token("ada@example.com", PASSWORD).await;
    let capped = change_email(&app, &token, "eve@example.com", PASSWORD).await;
    assert!(capped.headers().contains_key("retry-after"));
    problem(capped, 429, "rate_limited").await;
    assert_eq!(
        app.audited("action = 'user.reauth_failed'").await,
        3,
        "the refused attempt was not judged"
    );
    assert_eq!(
        app.audited(
            "action = 'auth.rate_limited' AND details->>'limit' = 'reauth_budget' \
             AND target_id = actor_id",
        )
        .await,
        1,
        "the refusal is on record, naming the user"
    );
}

/// The notice mail recommends a password change; the pending change must not survive it.
#[tokio::test]
async fn a_password_change_retires_a_pending_email_change() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    let link = pending_change(&app, &token, "eve@example.com").await;
    let changed = app
        .send(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&token),
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), 204);
    let late = app
        .post("/api/v1/auth/verify-email", json!({"token": link}))
        .await;
    problem(late, 400, "invalid_verification_token").await;
}

/// Completing a change ends every session and retires reset links mailed to the old
/// address; the old address can undo the change, even after the new one was confirmed and
/// the password changed.
#[tokio::test]
async fn the_old_address_undoes_a_completed_change() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    assert_eq!(
        app.post(
            "/api/v1/auth/forgot-password",
            json!({"email": "ada@example.com"})
        )
        .await
        .status(),
        202
    );
    let reset = app
        .mail
        .wait_for("ada@example.com", 2)
        .await
        .iter()
        .find_map(|m| m.token_for("/reset-password"))
        .expect("reset link");
    completed_change(&app, &token, "eve@example.com").await;
    problem(
        app.get_as("/api/v1/users/me", &token).await,
        401,
        "token_revoked",
    )
    .await;
    let stale = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": reset, "new_password": NEW_PASSWORD}),
        )
        .await;
    problem(stale, 400, "invalid_reset_token").await;

    // The taker changes the password too; the owner still has the notice's link.
    let taker = app.token("eve@example.com", PASSWORD).await;
    let changed = app
        .send(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&taker),
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), 204);
    let notice = app.mail.wait_for("ada@example.com", 3).await;
    let notice = notice
        .iter()
        .find(|m| m.token_for("/revert-email").is_some())
        .expect("the notice to the old address");
    assert!(notice.data.contains("/revert-email?token="));
    let revert = notice.token_for("/revert-email").expect("revert link");

    // The page acts only when its button is pressed.
    let page = app.get(&format!("/revert-email?token={revert}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap_or_default().contains("<button"));
    let back = app
        .post("/api/v1/auth/revert-email", json!({"token": revert}))
        .await;
    assert_eq!(back.status(), 200);
    let user: Value = back.json().await.expect("user");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["email_verified"], true);
    problem(
        app.get_as("/api/v1/users/me", &taker).await,
        401,
        "token_revoked",
    )
    .await;
    assert_eq!(
        app.audited("action = 'user.email_change_reverted'").await,
        1
    );
    problem(
        app.post("/api/v1/auth/revert-email", json!({"token": revert}))
            .await,
        400,
        "invalid_revert_token",
    )
    .await;
    problem(
        app.post(
            "/api/v1/auth/revert-email",
            json!({"token": "q4Xh2b0v8oK3s1Jm9tP6dW5rY7uZ2cE4fG8hL0nQ1aB"}),
        )
        .await,
        400,
        "invalid_revert_token",
    )
    .await;
    // The owner resets the password at the old address and is back in.
    assert_eq!(
        app.post(
            "/api/v1/auth/forgot-password",
            json!({"email": "ada@example.com"})
        )
        .await
        .status(),
        202
    );
    let reset = app
        .mail
        .wait_for("ada@example.com", 4)
        .await
        .iter()
        .rev()
        .find_map(|m| m.token_for("/reset-password"))
        .expect("a new reset link");
    let done = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": reset, "new_password": "the owner's own passphrase"}),
        )
        .await;
    assert_eq!(done.status(), 204);
    assert_eq!(
        app.login("ada@example.com", "the owner's own passphrase")
            .await
            .status(),
        200
    );
}
/// The notice's link opens a page that acts only when its button is pressed (a mail
/// scanner's prefetch changes nothing); pressed, it puts the old address back, once.
#[tokio::test]
async fn the_revert_page_acts_only_when_its_button_is_pressed() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    completed_change(&app, &token, "eve@example.com").await;
    let revert = app
        .mail
        .wait_for("ada@example.com", 2)
        .await
        .iter()
        .find_map(|m| m.token_for("/revert-email"))
        .expect("revert link");

    let page = app.get(&format!("/revert-email?token={revert}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains(&format!("value=\"{revert}\"")) && html.contains("<button"));
    // Opening the page changed nothing: the new address still signs in.
    app.token("eve@example.com", PASSWORD).await;

    let press = || async {
        app.client
            .post(app.url("/revert-email"))
            .form(&[("token", revert.as_str())])
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
            .contains("Email change undone")
    );
    app.token("ada@example.com", PASSWORD).await;
    problem(
        app.login("eve@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let again = press().await;
    assert_eq!(again.status(), 400);
    assert!(
        again
            .text()
            .await
            .unwrap_or_default()
            .contains("does not work")
    );
}

#[tokio::test]
async fn a_deactivated_users_change_does_not_complete() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let confirm = pending_change(&app, &ada.token, "eve@example.com").await;
    let deactivated = app
        .send(
            Method::DELETE,
            &format!("/api/v1/users/{}", ada.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(deactivated.status(), 204);
    problem(
        app.post("/api/v1/auth/verify-email", json!({"token": confirm}))
            .await,
        400,
        "invalid_verification_token",
    )
    .await;
}

/// The email change as a spam and phishing relay: limited per user and per recipient, and
/// no text the requester chose reaches an address not yet proven.
#[tokio::test]
async fn email_changes_are_limited_per_user_and_per_recipient() {
    let app = TestApp::spawn_with(&["--rate-limit-enabled", "true"]).await;
    let admin = app.admin().await;
    let spammer = app.member(&admin, "spam@example.com", "user").await;
    for n in 1..=3 {
        let sent = change_email(
            &app,
            &spammer.token,
            &format!("victim{n}@example.com"),
            PASSWORD,
        )
        .await;
        assert_eq!(sent.status(), 202, "change {n}");
    }
    problem(
        change_email(&app, &spammer.token, "victim4@example.com", PASSWORD).await,
        429,
        "rate_limited",
    )
    .await;
    for n in 1..=3 {
        let sender = app
            .member(&admin, &format!("sender{n}@example.com"), "user")
            .await;
        let sent = change_email(&app, &sender.token, "target@example.com", PASSWORD).await;
        assert_eq!(sent.status(), 202, "sender {n}");
    }
    let fourth = app.member(&admin, "sender4@example.com", "user").await;
    problem(
        change_email(&app, &fourth.token, "target@example.com", PASSWORD).await,
        429,
        "rate_limited",
    )
    .await;
    assert_eq!(app.outbox_to("target@example.com").await.len(), 3);
}

#[tokio::test]
async fn mail_to_an_unproven_address_carries_no_text_the_requester_chose() {
    let app = TestApp::spawn().await;
    let bait = "Claim your prize at evil.example";
    let registered = app
        .post(
            "/api/v1/auth/register",
            json!({"email": "victim@example.com", "password": PASSWORD, "name": bait}),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let verification = &app.mail.wait_for("victim@example.com", 1).await[0];
    assert!(
        !verification.data.contains("evil.example"),
        "{}",
        verification.data
    );

    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    let renamed = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"name": bait})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(
        change_email(&app, &token, "other@example.com", PASSWORD)
            .await
            .status(),
        202
    );
    let confirmation = &app.mail.wait_for("other@example.com", 1).await[0];
    assert!(
        !confirmation.data.contains("evil.example"),
        "{}",
        confirmation.data
    );
    // The proven old address is greeted by the name its owner chose.
    let notice = app.mail.wait_for("ada@example.com", 2).await;
    assert!(notice.iter().any(|m| m.data.contains("evil.example")));
}

/// Forgot-password and resend-verification answer without waiting for the work a known
/// address needs (so their time tells nothing): with the users table locked, both answer
/// at once for a known and an unknown address; the mail follows once the lock is gone.
#[tokio::test]
async fn recovery_answers_before_looking_the_address_up() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let locker = app.pool.begin().await;
    let mut locker = locker.expect("transaction");
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .expect("lock");
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    for (path, email) in [
        ("/api/v1/auth/forgot-password", "ada@example.com"),
        ("/api/v1/auth/forgot-password", "nobody@example.com"),
        ("/api/v1/auth/resend-verification", "ada@example.com"),
    ] {
        let response = quick
            .post(app.url(path))
            .json(&json!({"email": email}))
            .send()
            .await;
        let status = response
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string());
        assert_eq!(
            status,
            Ok(202),
            "{path} {email} answered while the users table was locked"
        );
    }
    locker.rollback().await.expect("unlock");
    assert_eq!(
        app.outbox_to("ada@example.com").await,
        ["verify_email", "reset_password"]
    );
    assert!(app.outbox_to("nobody@example.com").await.is_empty());
}

#[tokio::test]
async fn metrics_do_not_count_mail_per_template() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let text = app.get("/metrics").await.text().await.unwrap_or_default();
    assert!(text.contains("email_sent_total"), "{text}");
    assert!(
        !text.contains("email_sent_total{"),
        "no labels on the sent-mail count"
    );
}

/// A user's own history shows where their own requests and the sign-in attempts on the
/// account came from, not where the admin who acted on them sits.
#[tokio::test]
async fn an_admins_address_stays_out_of_the_users_history() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    let edited = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{}", ada.id),
            Some(&admin.token),
            Some(json!({"name": "Ada L"})),
        )
        .await;
    assert_eq!(edited.status(), 200);
    problem(
        app.login("ada@example.com", "not her passphrase").await,
        401,
        "invalid_credentials",
    )
    .await;
    let history: Value = app
        .get_as("/api/v1/users/me/audit-events", &ada.token)
        .await
        .json()
        .await
        .expect("json");
    let items = history["items"].as_array().cloned().unwrap_or_default();
    let by = |action: &str, outcome: &str| {
        items
            .iter()
            .find(|e| e["action"] == action && e["outcome"] == outcome)
            .cloned()
            .unwrap_or_default()
    };
    let edit = by("user.profile_updated", "success");
    assert_eq!(edit["actor_id"], admin.id.as_str());
    assert_eq!(
        (edit["ip"].clone(), edit["user_agent"].clone()),
        (Value::Null, Value::Null)
    );
    let own = by("auth.login", "success");
    assert_eq!(own["ip"], "127.0.0.1");
    let attempt = by("auth.login", "failure");
    assert_eq!(
        attempt["ip"], "127.0.0.1",
        "sign-in attempts on the account show their IP"
    );
    // The admin's view of the trail keeps everything.
    let all: Value = app
        .get_as(
            "/api/v1/audit-events?action=user.profile_updated",
            &admin.token,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(all["items"][0]["ip"], "127.0.0.1");
}

/// A manager is demoted while its request to deactivate a user is under way: the request
/// reads the manager's role again inside its transaction, under lock, and is refused.
#[tokio::test]
async fn a_demoted_actor_cannot_finish_an_action_begun_before() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let manager = app.member(&admin, "boss@example.com", "manager").await;
    let target = app.member(&admin, "bob@example.com", "user").await;
    let mut demotion = app.pool.begin().await.expect("transaction");
    sqlx::query("UPDATE users SET role = 'user' WHERE id = $1::uuid")
        .bind(&manager.id)
        .execute(&mut *demotion)
        .await
        .expect("demote");
    let request = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/users/{}", target.id));
        let token = manager.token.clone();
        tokio::spawn(async move { client.delete(url).bearer_auth(token).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    demotion.commit().await.expect("commit the demotion");
    let response = request.await.expect("task").expect("response");
    problem(response, 403, "forbidden").await;
    let status: String = sqlx::query_scalar("SELECT status FROM users WHERE id = $1::uuid")
        .bind(&target.id)
        .fetch_one(&app.pool)
        .await
        .expect("status");
    assert_eq!(status, "active");
}

/// SMTP servers echo the recipient in their refusals; the outbox keeps the error for
/// retries and the log shows it, so the address is cut out of it first.
#[tokio::test]
async fn smtp_errors_are_stored_without_the_recipient() {
    let app = TestApp::spawn().await;
    let registered = app
        .post(
            "/api/v1/auth/register",
            json!({"email": "reject-me@example.com", "password": PASSWORD, "name": "R"}),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let error = loop {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT status, last_error FROM email_outbox WHERE status = 'failed'")
                .fetch_optional(&app.pool)
                .await
                .expect("outbox");
        if let Some((_, error)) = row {
            break error.unwrap_or_default();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the refusal was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("550"), "{error}");
    assert!(error.contains("<recipient>"), "{error}");
    assert!(!error.to_ascii_lowercase().contains("reject-me"), "{error}");
}
