//! Two-step sign-in: enrolment, the `mfa_required` login step, replay and skew rules,
//! recovery codes, removal, the admin reset, and what the database holds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse::db::mfa::{self as mfa_db, Redeemed};
use gatehouse::db::sessions::NewSession;
use gatehouse::mfa::{Judged, TotpSecret, code_at};
use gatehouse::model::{Action, Event};
use gatehouse::request::RequestMeta;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_one_winner, claims, count, join_all, json_body, problem, start_binary,
};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Waits until the current 30 s step has at least 5 s left and began at least 2 s ago, so
/// that codes computed here for "now ± n steps" mean the same steps to the server.
async fn clear_of_step_edges() -> u64 {
    loop {
        let now = unix_now();
        let into = now % 30;
        if (2..=24).contains(&into) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Enrolled {
    secret: TotpSecret,
    token: String,
    recovery_codes: Vec<String>,
}

async fn begin(app: &TestApp, token: &str) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/users/me/mfa/totp",
        Some(token),
        Some(json!({"current_password": PASSWORD})),
    )
    .await
}

async fn confirm(app: &TestApp, token: &str, code: &str) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/users/me/mfa/totp/confirm",
        Some(token),
        Some(json!({"code": code})),
    )
    .await
}

/// A verified user with TOTP on, confirmed with the code of the current step.
async fn enrolled(app: &TestApp, email: &str) -> Enrolled {
    app.verified_user(email).await;
    let token = app.token(email, PASSWORD).await;
    let started = json_body(begin(app, &token).await, 201).await;
    let secret = TotpSecret::from_base32(started["secret"].as_str().unwrap_or_default())
        .expect("a base32 secret");
    let now = clear_of_step_edges().await;
    let codes = json_body(confirm(app, &token, &code_at(&secret, now)).await, 200).await;
    let recovery_codes = codes["recovery_codes"]
        .as_array()
        .map(|codes| {
            codes
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Enrolled {
        secret,
        token,
        recovery_codes,
    }
}

/// The `mfa_token` of a right password.
async fn challenge(app: &TestApp, email: &str) -> String {
    challenge_with(app, email, PASSWORD).await
}

/// The `mfa_token` that `password` earns for `email`.
async fn challenge_with(app: &TestApp, email: &str, password: &str) -> String {
    let body = problem(app.login(email, password).await, 401, "mfa_required").await;
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    body["mfa_token"].as_str().unwrap_or_default().to_owned()
}

async fn answer(app: &TestApp, mfa_token: &str, code: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": mfa_token, "code": code}),
    )
    .await
}

#[tokio::test]
async fn enrolment_then_sign_in_in_two_steps() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    let other_session = app.token("ada@example.com", PASSWORD).await;

    let started = begin(&app, &token).await;
    assert_eq!(started.headers()["cache-control"], "no-store");
    let started = json_body(started, 201).await;
    let secret_text = started["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret_text.len() >= 32, "at least 160 bits: {secret_text}");
    assert_eq!(
        started["otpauth_uri"],
        format!(
            "otpauth://totp/Gatehouse:ada%40example.com?secret={secret_text}&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        )
    );
    let svg = started["qr_svg"].as_str().unwrap_or_default();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    // Not active before it is confirmed: a login still opens a session.
    let status = json_body(app.get_as("/api/v1/users/me/mfa", &token).await, 200).await;
    assert_eq!(
        status,
        json!({"totp": false, "recovery_codes_remaining": 0, "passkeys": 0})
    );
    app.token("ada@example.com", PASSWORD).await;

    let secret = TotpSecret::from_base32(&secret_text).expect("base32");
    let now = clear_of_step_edges().await;
    let wrong = confirm(&app, &token, &code_at(&secret, now + 3600)).await;
    let body = problem(wrong, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "code");
    assert_eq!(body["errors"][0]["code"], "invalid_code");
    let confirmed = confirm(&app, &token, &code_at(&secret, now)).await;
    assert_eq!(confirmed.headers()["cache-control"], "no-store");
    let codes = json_body(confirmed, 200).await;
    let codes = codes["recovery_codes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(codes.len(), 10);
    // Other sessions end; this one goes on.
    problem(
        app.get_as("/api/v1/users/me", &other_session).await,
        401,
        "token_revoked",
    )
    .await;
    let status = json_body(app.get_as("/api/v1/users/me/mfa", &token).await, 200).await;
    assert_eq!(
        status,
        json!({"totp": true, "recovery_codes_remaining": 10, "passkeys": 0})
    );
    problem(begin(&app, &token).await, 409, "conflict").await;
    problem(confirm(&app, &token, "123456").await, 409, "conflict").await;

    // The right password alone opens nothing: no session, `last_login_at` unchanged.
    let sessions_before = count(&app.pool, "SELECT count(*) FROM sessions").await;
    let last_login_before = count(
        &app.pool,
        "SELECT coalesce(extract(epoch FROM max(last_login_at))::bigint, 0) FROM users",
    )
    .await;
    let mfa_token = challenge(&app, "ada@example.com").await;
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM sessions").await,
        sessions_before
    );
    assert_eq!(
        count(
            &app.pool,
            "SELECT coalesce(extract(epoch FROM max(last_login_at))::bigint, 0) FROM users",
        )
        .await,
        last_login_before
    );
    problem(
        answer(&app, &mfa_token, &code_at(&secret, now + 3600)).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    let now = clear_of_step_edges().await;
    let pair = json_body(
        answer(&app, &mfa_token, &code_at(&secret, now + 30)).await,
        200,
    )
    .await;
    let access = pair["access_token"].as_str().unwrap_or_default();
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp"]));
    json_body(app.get_as("/api/v1/users/me", access).await, 200).await;
    // A refreshed token keeps its session's methods.
    let refreshed = json_body(
        app.refresh(pair["refresh_token"].as_str().unwrap_or_default())
            .await,
        200,
    )
    .await;
    assert_eq!(
        claims(refreshed["access_token"].as_str().unwrap_or_default())["amr"],
        json!(["pwd", "otp"])
    );
    for condition in [
        "action = 'auth.login' AND outcome = 'success' AND details->>'method' = 'password+totp'",
        "action = 'auth.mfa_failed' AND outcome = 'failure'",
        "action = 'user.mfa_enabled'",
    ] {
        assert_eq!(app.audited(condition).await, 1, "{condition}");
    }
    // Tokens of a password alone say so.
    app.verified_user("bob@example.com").await;
    let bob = app.token("bob@example.com", PASSWORD).await;
    assert_eq!(claims(&bob)["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn a_code_is_accepted_once_and_never_an_earlier_one_after_it() {
    let app = TestApp::spawn().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let now = clear_of_step_edges().await;
    let next = code_at(&ada.secret, now + 30);
    json_body(
        answer(&app, &challenge(&app, "ada@example.com").await, &next).await,
        200,
    )
    .await;
    // The same code again, on a new challenge: refused.
    let mfa_token = challenge(&app, "ada@example.com").await;
    problem(
        answer(&app, &mfa_token, &next).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    // An earlier code, still within the skew, after the later one: refused too.
    let earlier = code_at(&ada.secret, now);
    problem(
        answer(&app, &mfa_token, &earlier).await,
        401,
        "invalid_mfa_code",
    )
    .await;
}

#[tokio::test]
async fn two_answers_racing_with_one_code_let_exactly_one_in() {
    let app = TestApp::spawn().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(challenge(&app, "ada@example.com").await);
    }
    let now = clear_of_step_edges().await;
    let code = code_at(&ada.secret, now + 30);
    let url = app.url("/api/v1/auth/login/mfa");
    let answers = tokens.iter().map(|t| {
        let (client, url) = (app.client.clone(), url.clone());
        let body = json!({"mfa_token": t, "code": code});
        async move {
            let sent = client.post(url).json(&body).send().await;
            sent.map(|r| r.status().as_u16()).unwrap_or(0)
        }
    });
    let statuses = join_all(answers).await;
    assert_one_winner(&statuses, 200, 401);
}

/// One challenge answered at once with two different right codes (a TOTP code and a
/// recovery code): one opens a session, the other is told the challenge is over, and the
/// loser's code is not spent by the answer that lost.
#[tokio::test]
async fn two_right_answers_to_one_challenge_open_one_session_and_spend_one_code() {
    let app = TestApp::spawn().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let mut used_before = 0;
    for round in 0..3 {
        let mfa_token = challenge(&app, "ada@example.com").await;
        let now = clear_of_step_edges().await;
        let totp = code_at(&ada.secret, now + 30 * (round + 1));
        let recovery = ada.recovery_codes[round as usize].clone();
        let url = app.url("/api/v1/auth/login/mfa");
        let answers = [
            json!({"mfa_token": mfa_token, "code": totp}),
            json!({"mfa_token": mfa_token, "recovery_code": recovery}),
        ]
        .into_iter()
        .map(|body| {
            let (client, url) = (app.client.clone(), url.clone());
            async move {
                let sent = client.post(url).json(&body).send().await;
                sent.map(|r| r.status().as_u16()).unwrap_or(0)
            }
        });
        let statuses = join_all(answers).await;
        assert_one_winner(&statuses, 200, 401);
        let totp_won = statuses[0] == 200;
        let step = (now + 30 * (round + 1)) / 30;
        let step_spent = count(
            &app.pool,
            &format!("SELECT count(*) FROM user_totp WHERE last_used_step = {step}"),
        )
        .await;
        let codes_used = count(
            &app.pool,
            "SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL",
        )
        .await;
        // Exactly the winner's code is spent: its TOTP step or one more recovery code.
        assert_eq!(step_spent, i64::from(totp_won), "round {round}");
        assert_eq!(
            codes_used - used_before,
            i64::from(!totp_won),
            "round {round}"
        );
        used_before = codes_used;
    }
}

/// The order inside the one statement that redeems a challenge, made deterministic: while
/// another transaction holds the challenge (answering it), a redemption with a right
/// recovery code waits, then finds the challenge used and spends nothing.
#[tokio::test]
async fn a_redemption_waits_for_the_challenge_and_spends_nothing_when_it_lost() {
    let app = TestApp::spawn().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let mfa_token = challenge(&app, "ada@example.com").await;
    let token_hash = gatehouse::crypto::hash_token(&mfa_token);
    let user_id: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM user_totp")
        .fetch_one(&app.pool)
        .await
        .expect("the user");
    let code_hash: Vec<u8> =
        sqlx::query_scalar("SELECT code_hash FROM recovery_codes WHERE used_at IS NULL LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .expect("a recovery code");
    let mut winner = app.pool.begin().await.expect("begin");
    sqlx::query("UPDATE mfa_challenges SET used_at = now() WHERE token_hash = $1")
        .bind(&token_hash)
        .execute(&mut *winner)
        .await
        .expect("the other answer");

    let pool = app.pool.clone();
    let (hash, judged) = (token_hash.clone(), Judged::RecoveryCode(code_hash.clone()));
    let loser = tokio::spawn(async move {
        let meta = RequestMeta::default();
        let amr = vec!["pwd".to_owned(), "otp".to_owned()];
        let session = NewSession {
            id: uuid::Uuid::now_v7(),
            ttl: Duration::from_secs(3600),
            amr: &amr,
            refresh_hash: &[7; 32],
        };
        let event = Event::success(Action::AuthLogin, Some(user_id), Some(user_id), &meta);
        mfa_db::redeem_challenge(&pool, &hash, user_id, &judged, &session, &event).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !loser.is_finished(),
        "the redemption waits for the challenge"
    );
    winner.commit().await.expect("commit");
    let redeemed = loser.await.expect("joined").expect("redeemed");
    assert_eq!(redeemed, Redeemed::NotLive);
    let unused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM recovery_codes WHERE used_at IS NULL AND code_hash = $1",
    )
    .bind(&code_hash)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(unused, 1, "the recovery code is unspent");
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM sessions WHERE amr = '{pwd,otp}'"
        )
        .await,
        0
    );
    // Answered over HTTP now, the challenge is over.
    problem(
        answer(&app, &mfa_token, &ada.recovery_codes[0]).await,
        401,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn one_step_of_skew_is_accepted_and_two_are_not() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    let started = json_body(begin(&app, &token).await, 201).await;
    let secret =
        TotpSecret::from_base32(started["secret"].as_str().unwrap_or_default()).expect("base32");
    let now = clear_of_step_edges().await;
    for refused in [now - 60, now + 60] {
        problem(
            confirm(&app, &token, &code_at(&secret, refused)).await,
            422,
            "validation_failed",
        )
        .await;
    }
    // One step behind confirms; one step ahead then signs in.
    json_body(
        confirm(&app, &token, &code_at(&secret, now - 30)).await,
        200,
    )
    .await;
    let mfa_token = challenge(&app, "ada@example.com").await;
    problem(
        answer(&app, &mfa_token, &code_at(&secret, now + 60)).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    json_body(
        answer(&app, &mfa_token, &code_at(&secret, now + 30)).await,
        200,
    )
    .await;
}

#[tokio::test]
async fn an_mfa_token_works_once_dies_after_five_wrong_codes_or_five_minutes_and_is_no_bearer() {
    let app = TestApp::spawn().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let code = |offset: i64| code_at(&ada.secret, unix_now().saturating_add_signed(offset));

    // Used once: dead.
    let used = challenge(&app, "ada@example.com").await;
    clear_of_step_edges().await;
    json_body(answer(&app, &used, &code(30)).await, 200).await;
    problem(answer(&app, &used, &code(30)).await, 401, "invalid_token").await;

    // Five wrong codes: the fifth is still `invalid_mfa_code`, then the token is dead.
    let guessed = challenge(&app, "ada@example.com").await;
    for _ in 0..5 {
        problem(
            answer(&app, &guessed, "000000").await,
            401,
            "invalid_mfa_code",
        )
        .await;
    }
    problem(
        answer(&app, &guessed, &ada.recovery_codes[0]).await,
        401,
        "invalid_token",
    )
    .await;

    // Expired: as dead as the others.
    let expired = challenge(&app, "ada@example.com").await;
    sqlx::query("UPDATE mfa_challenges SET expires_at = now() - interval '1 second' WHERE used_at IS NULL AND failures = 0")
        .execute(&app.pool)
        .await
        .expect("expire");
    problem(
        answer(&app, &expired, &ada.recovery_codes[0]).await,
        401,
        "invalid_token",
    )
    .await;
    // Unknown: the same answer.
    let unknown = "A".repeat(43);
    problem(
        answer(&app, &unknown, &ada.recovery_codes[0]).await,
        401,
        "invalid_token",
    )
    .await;

    // Neither a bearer token nor a refresh token.
    let live = challenge(&app, "ada@example.com").await;
    problem(
        app.get_as("/api/v1/users/me", &live).await,
        401,
        "invalid_token",
    )
    .await;
    problem(app.refresh(&live).await, 401, "invalid_token").await;
    // ...and still answerable after those attempts, with a recovery code.
    let pair = json_body(
        app.post(
            "/api/v1/auth/login/mfa",
            json!({"mfa_token": live, "recovery_code": ada.recovery_codes[1]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        claims(pair["access_token"].as_str().unwrap_or_default())["amr"],
        json!(["pwd", "otp"])
    );
    let by_recovery_code =
        "action = 'auth.login' AND details->>'method' = 'password+recovery_code'";
    assert_eq!(app.audited(by_recovery_code).await, 1);
    // A recovery code works once.
    let again = challenge(&app, "ada@example.com").await;
    problem(
        app.post(
            "/api/v1/auth/login/mfa",
            json!({"mfa_token": again, "recovery_code": ada.recovery_codes[1]}),
        )
        .await,
        401,
        "invalid_mfa_code",
    )
    .await;
}

#[tokio::test]
async fn wrong_codes_count_in_the_failed_login_slowdown() {
    let app = TestApp::spawn_with(&["--rate-limit-enabled", "true"]).await;
    enrolled(&app, "ada@example.com").await;
    let mfa_token = challenge(&app, "ada@example.com").await;
    for _ in 0..5 {
        problem(
            answer(&app, &mfa_token, "000000").await,
            401,
            "invalid_mfa_code",
        )
        .await;
    }
    // The sixth attempt of this address and client waits, whatever it is.
    let slowed = app.login("ada@example.com", PASSWORD).await;
    assert!(slowed.headers().contains_key("retry-after"));
    problem(slowed, 429, "rate_limited").await;
}

#[tokio::test]
async fn recovery_codes_regenerate_and_totp_switches_off() {
    let app = TestApp::spawn().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let token = &ada.token;
    let regenerate = |password: &str, code: &str| {
        app.send(
            Method::POST,
            "/api/v1/users/me/mfa/recovery-codes",
            Some(token),
            Some(json!({"current_password": password, "code": code})),
        )
    };
    problem(
        regenerate("a wrong password", &ada.recovery_codes[0]).await,
        401,
        "invalid_credentials",
    )
    .await;
    let wrong = problem(
        regenerate(PASSWORD, "99999-99999").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(wrong["errors"][0]["code"], "invalid_code");
    // A recovery code (upper case, without its hyphen: typed by hand) confirms it.
    let typed = ada.recovery_codes[0].replace('-', "").to_uppercase();
    let fresh = json_body(regenerate(PASSWORD, &typed).await, 200).await;
    let fresh: Vec<String> = fresh["recovery_codes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !ada.recovery_codes.contains(c)));
    // The old set is gone.
    let wrong = problem(
        regenerate(PASSWORD, &ada.recovery_codes[1]).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(wrong["errors"][0]["field"], "code");

    let now = clear_of_step_edges().await;
    let off = app
        .send(
            Method::DELETE,
            "/api/v1/users/me/mfa/totp",
            Some(token),
            Some(json!({"current_password": PASSWORD, "code": code_at(&ada.secret, now + 30)})),
        )
        .await;
    assert_eq!(off.status(), 204);
    let status = json_body(app.get_as("/api/v1/users/me/mfa", token).await, 200).await;
    assert_eq!(
        status,
        json!({"totp": false, "recovery_codes_remaining": 0, "passkeys": 0})
    );
    // Off: a password signs in again, and removing or regenerating is a conflict.
    app.token("ada@example.com", PASSWORD).await;
    problem(regenerate(PASSWORD, &fresh[0]).await, 409, "conflict").await;
    for action in [
        "user.mfa_disabled",
        "user.recovery_codes_regenerated",
        "user.reauth_failed",
    ] {
        let condition = format!("action = '{action}'");
        assert_eq!(app.audited(&condition).await, 1, "{action}");
    }
}

#[tokio::test]
async fn a_password_reset_keeps_the_second_step_and_an_admin_reset_removes_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let ada_id = json_body(app.get_as("/api/v1/users/me", &ada.token).await, 200).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // A reset by mail does not switch the second step off.
    assert_eq!(
        app.post(
            "/api/v1/auth/forgot-password",
            json!({"email": "ada@example.com"})
        )
        .await
        .status(),
        202
    );
    // The verification mail came first; the reset link is the second message.
    let link = app.mail.wait_for("ada@example.com", 2).await[1]
        .token_for("/reset-password")
        .expect("a reset link");
    let reset = app
        .post(
            "/api/v1/auth/reset-password",
            json!({"token": link, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(reset.status(), 204);
    problem(
        app.login("ada@example.com", "a brand new passphrase").await,
        401,
        "mfa_required",
    )
    .await;

    // Only an admin resets it; a manager may not.
    let manager = app.member(&admin, "max@example.com", "manager").await;
    let path = format!("/api/v1/users/{ada_id}/mfa");
    problem(
        app.send(Method::DELETE, &path, Some(&manager.token), None)
            .await,
        403,
        "forbidden",
    )
    .await;
    let now = clear_of_step_edges().await;
    let mfa_token = challenge_with(&app, "ada@example.com", "a brand new passphrase").await;
    let pair = json_body(
        answer(&app, &mfa_token, &code_at(&ada.secret, now + 30)).await,
        200,
    )
    .await;
    let session = pair["access_token"].as_str().unwrap_or_default().to_owned();
    let done = app
        .send(Method::DELETE, &path, Some(&admin.token), None)
        .await;
    assert_eq!(done.status(), 204);
    // Signed out, told, and a password alone signs in again.
    problem(
        app.get_as("/api/v1/users/me", &session).await,
        401,
        "token_revoked",
    )
    .await;
    let notice = &app.mail.wait_for("ada@example.com", 3).await[2];
    assert_eq!(notice.subject(), "Two-step sign-in was switched off");
    assert_eq!(
        app.outbox_to("ada@example.com")
            .await
            .last()
            .map(String::as_str),
        Some("mfa_reset")
    );
    app.token("ada@example.com", "a brand new passphrase").await;
    problem(
        app.send(Method::DELETE, &path, Some(&admin.token), None)
            .await,
        409,
        "conflict",
    )
    .await;
    let by_admin = format!(
        "action = 'user.mfa_disabled' AND actor_id = '{}' AND target_id = '{ada_id}'",
        admin.id
    );
    assert_eq!(app.audited(&by_admin).await, 1);
}

#[tokio::test]
async fn the_secret_and_the_recovery_codes_are_nowhere_in_the_clear() {
    let app = TestApp::spawn().await;
    let ada = enrolled(&app, "ada@example.com").await;
    let mfa_token = challenge(&app, "ada@example.com").await;
    // Every row of every table, as text.
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&app.pool)
            .await
            .expect("tables");
    let mut dump = String::new();
    for table in tables {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM \"{table}\" t"))
                .fetch_all(&app.pool)
                .await
                .expect("rows");
        dump.push_str(&rows.join("\n"));
    }
    // The dump holds the rows in question (their column names are its keys).
    assert!(dump.contains("secret_ciphertext") && dump.contains("code_hash"));
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let secret = ada.secret.as_bytes();
    for needle in [ada.secret.base32(), hex(secret), mfa_token.clone()] {
        assert!(!dump.contains(&needle), "found in the database");
    }
    for code in &ada.recovery_codes {
        assert!(
            !dump.contains(code.as_str()),
            "a recovery code in the database"
        );
        assert!(!dump.contains(&code.replace('-', "")));
    }
}

#[tokio::test]
async fn two_instances_share_the_challenge_and_the_replay_rule() {
    let test_db = crate::helpers::TestDb::empty().await;
    let envs = [
        ("RATE_LIMIT_ENABLED", "false"),
        ("BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        ("BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase"),
    ];
    let (mut first, first_addr) = start_binary(&test_db.url, &envs);
    let (mut second, second_addr) = start_binary(&test_db.url, &envs);
    let client = reqwest::Client::new();
    let call = |addr: &str, method: Method, path: &str, token: Option<&str>, body: Value| {
        let mut request = client
            .request(method, format!("http://{addr}{path}"))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let login = json!({"email": "root@example.com", "password": "an admin passphrase"});
    let signed_in = call(
        &first_addr,
        Method::POST,
        "/api/v1/auth/login",
        None,
        login.clone(),
    )
    .await
    .expect("login");
    let token = json_body(signed_in, 200).await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let started = call(
        &first_addr,
        Method::POST,
        "/api/v1/users/me/mfa/totp",
        Some(&token),
        json!({"current_password": "an admin passphrase"}),
    )
    .await
    .expect("begin");
    let secret = TotpSecret::from_base32(
        json_body(started, 201).await["secret"]
            .as_str()
            .unwrap_or_default(),
    )
    .expect("base32");
    let now = clear_of_step_edges().await;
    // Confirmed on the second instance.
    let confirmed = call(
        &second_addr,
        Method::POST,
        "/api/v1/users/me/mfa/totp/confirm",
        Some(&token),
        json!({"code": code_at(&secret, now)}),
    )
    .await
    .expect("confirm");
    assert_eq!(confirmed.status(), 200);
    // Challenged by the first, answered on the second; the code is then spent on both.
    let challenged = call(
        &first_addr,
        Method::POST,
        "/api/v1/auth/login",
        None,
        login.clone(),
    )
    .await
    .expect("login");
    let mfa_token = problem(challenged, 401, "mfa_required").await["mfa_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = code_at(&secret, now + 30);
    let answered = call(
        &second_addr,
        Method::POST,
        "/api/v1/auth/login/mfa",
        None,
        json!({"mfa_token": mfa_token, "code": code}),
    )
    .await
    .expect("answer");
    assert_eq!(answered.status(), 200);
    let again = call(
        &second_addr,
        Method::POST,
        "/api/v1/auth/login",
        None,
        login,
    )
    .await
    .expect("login");
    let mfa_token = problem(again, 401, "mfa_required").await["mfa_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let replayed = call(
        &first_addr,
        Method::POST,
        "/api/v1/auth/login/mfa",
        None,
        json!({"mfa_token": mfa_token, "code": code}),
    )
    .await
    .expect("answer");
    problem(replayed, 401, "invalid_mfa_code").await;
    first.kill().ok();
    second.kill().ok();
    first.wait().ok();
    second.wait().ok();
}

#[tokio::test]
async fn the_second_step_has_its_own_limit_per_client() {
    let app = TestApp::spawn_with(&[
        "--rate-limit-enabled",
        "true",
        "--rate-limit-login",
        "3/1m",
        "--login-slowdown-after",
        "100",
    ])
    .await;
    enrolled(&app, "ada@example.com").await;
    // One login (of three) for the challenge; the second step counts apart from logins.
    let mfa_token = challenge(&app, "ada@example.com").await;
    for _ in 0..3 {
        problem(
            answer(&app, &mfa_token, "000000").await,
            401,
            "invalid_mfa_code",
        )
        .await;
    }
    let limited = answer(&app, &mfa_token, "000000").await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429, "rate_limited").await;
    // Logins still have two of their three left.
    challenge(&app, "ada@example.com").await;
}
