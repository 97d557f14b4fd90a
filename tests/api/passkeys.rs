//! Passkeys: registration, discoverable sign-in, rename and removal with a software
//! authenticator that signs like a browser's; every refusal of the two ceremonies; two
//! instances sharing a ceremony; and the routes gone when the RP ID is an IP address.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_one_winner, claims, join_all, json_body, problem, start_binary,
};
use crate::soft_passkey::{SoftPasskey, Tamper, b64};

/// The origin of the default `PUBLIC_URL`, which the relying party accepts.
const ORIGIN: &str = "http://localhost:8080";

/// Registration options for the signed-in `token`: the challenge id and the `publicKey`.
async fn registration_options(app: &TestApp, token: &str) -> (String, Value) {
    let options = json_body(
        app.send(
            Method::POST,
            "/api/v1/users/me/passkeys/options",
            Some(token),
            Some(json!({"current_password": PASSWORD})),
        )
        .await,
        200,
    )
    .await;
    let id = options["challenge_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (id, options["publicKey"].clone())
}

async fn register(
    app: &TestApp,
    token: &str,
    challenge_id: &str,
    credential: &Value,
) -> reqwest::Response {
    app.send(
        Method::POST,
        "/api/v1/users/me/passkeys",
        Some(token),
        Some(
            json!({"challenge_id": challenge_id, "name": "Work laptop", "credential": credential}),
        ),
    )
    .await
}

/// A verified user with one passkey: their access token and the authenticator.
async fn with_passkey(app: &TestApp, email: &str) -> (String, SoftPasskey) {
    app.verified_user(email).await;
    let token = app.token(email, PASSWORD).await;
    let (challenge_id, public_key) = registration_options(app, &token).await;
    let (authenticator, credential) = SoftPasskey::register(&public_key, ORIGIN);
    json_body(register(app, &token, &challenge_id, &credential).await, 201).await;
    (token, authenticator)
}

/// Sign-in options: the challenge id and the `publicKey`.
async fn sign_in_options(app: &TestApp) -> (String, Value) {
    let options = json_body(
        app.post("/api/v1/auth/passkey/options", json!({})).await,
        200,
    )
    .await;
    let id = options["challenge_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (id, options["publicKey"].clone())
}

async fn sign_in(app: &TestApp, challenge_id: &str, credential: &Value) -> reqwest::Response {
    app.post(
        "/api/v1/auth/passkey/login",
        json!({"challenge_id": challenge_id, "credential": credential}),
    )
    .await
}

/// A full sign-in with `authenticator`, tampered as told: the answer.
async fn sign_in_with(
    app: &TestApp,
    authenticator: &mut SoftPasskey,
    tamper: &Tamper,
) -> reqwest::Response {
    let (challenge_id, public_key) = sign_in_options(app).await;
    let credential = authenticator.sign_in_with(&public_key, ORIGIN, tamper);
    sign_in(app, &challenge_id, &credential).await
}

#[tokio::test]
async fn register_sign_in_rename_and_delete() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    let (challenge_id, public_key) = registration_options(&app, &token).await;
    assert_eq!(
        public_key["rp"],
        json!({"id": "localhost", "name": "Gatehouse"})
    );
    assert_eq!(public_key["user"]["name"], "ada@example.com");
    let selection = &public_key["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(public_key["excludeCredentials"], json!([]));

    let (mut authenticator, credential) = SoftPasskey::register(&public_key, ORIGIN);
    let made = json_body(
        register(&app, &token, &challenge_id, &credential).await,
        201,
    )
    .await;
    assert_eq!(made["name"], "Work laptop");
    assert_eq!(made["last_used_at"], Value::Null);
    let passkey_id = made["id"].as_str().unwrap_or_default().to_owned();
    let status = json_body(app.get_as("/api/v1/users/me/mfa", &token).await, 200).await;
    assert_eq!(status["passkeys"], 1);
    // A second registration excludes the first passkey.
    let (_, again) = registration_options(&app, &token).await;
    assert_eq!(
        again["excludeCredentials"][0]["id"],
        b64(authenticator.credential_id())
    );

    // Sign-in without an email: the token says a hardware key was used, nothing else.
    let pair = json_body(
        sign_in_with(&app, &mut authenticator, &Tamper::default()).await,
        200,
    )
    .await;
    let access = pair["access_token"].as_str().unwrap_or_default();
    assert_eq!(claims(access)["amr"], json!(["hwk"]));
    let me = json_body(app.get_as("/api/v1/users/me", access).await, 200).await;
    assert_eq!(me["email"], "ada@example.com");
    assert!(me["last_login_at"].is_string());
    // A refresh keeps the session's amr.
    let refreshed = json_body(
        app.post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        claims(refreshed["access_token"].as_str().unwrap_or_default())["amr"],
        json!(["hwk"])
    );
    let listed = json_body(app.get_as("/api/v1/users/me/passkeys", &token).await, 200).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert!(listed["items"][0]["last_used_at"].is_string());

    let path = format!("/api/v1/users/me/passkeys/{passkey_id}");
    let renamed = json_body(
        app.send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": "  Phone "})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Phone");
    problem(
        app.send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": " "})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let removed = app.send(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(removed.status(), 204);
    problem(
        app.send(Method::DELETE, &path, Some(&token), None).await,
        404,
        "not_found",
    )
    .await;
    // Removed, it signs in no more.
    problem(
        sign_in_with(&app, &mut authenticator, &Tamper::default()).await,
        401,
        "invalid_credentials",
    )
    .await;
    for (action, outcome, count) in [
        ("user.passkey_added", "success", 1),
        ("user.passkey_renamed", "success", 1),
        ("user.passkey_removed", "success", 1),
        ("auth.login", "failure", 1),
    ] {
        let condition = format!(
            "action = '{action}' AND outcome = '{outcome}' AND \
             (action <> 'auth.login' OR details->>'method' = 'passkey')"
        );
        assert_eq!(app.audited(&condition).await, count, "{action} {outcome}");
    }
    let signed_in =
        "action = 'auth.login' AND outcome = 'success' AND details->>'method' = 'passkey'";
    assert_eq!(app.audited(signed_in).await, 1);
}

#[tokio::test]
async fn every_refusal_of_a_sign_in_is_invalid_credentials_and_audited() {
    let app = TestApp::spawn().await;
    let (_, mut ada) = with_passkey(&app, "ada@example.com").await;
    let (bob, _) = with_passkey(&app, "bob@example.com").await;
    let refusals = [
        (
            "origin",
            Tamper {
                origin: Some("https://evil.example".into()),
                ..Tamper::default()
            },
        ),
        (
            "rp_id",
            Tamper {
                rp_id: Some("evil.example".into()),
                ..Tamper::default()
            },
        ),
        (
            "user_verification",
            Tamper {
                user_verified: false,
                ..Tamper::default()
            },
        ),
        (
            "signature",
            Tamper {
                bad_signature: true,
                ..Tamper::default()
            },
        ),
        (
            "challenge",
            Tamper {
                challenge: Some(b64(&[7; 32])),
                ..Tamper::default()
            },
        ),
    ];
    for (reason, tamper) in &refusals {
        problem(
            sign_in_with(&app, &mut ada, tamper).await,
            401,
            "invalid_credentials",
        )
        .await;
        let condition = format!(
            "action = 'auth.login' AND outcome = 'failure' AND details->>'reason' = '{reason}' \
             AND details->>'method' = 'passkey' AND actor_id IS NULL AND target_id IS NOT NULL"
        );
        assert_eq!(app.audited(&condition).await, 1, "{reason}");
    }

    // Ada's credential presented as Bob's (his user handle): unknown.
    // The user handle is the user's id.
    let bob_id = json_body(app.get_as("/api/v1/users/me", &bob).await, 200).await["id"]
        .as_str()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .expect("Bob's id");
    let bob_handle = bob_id.as_bytes().to_vec();
    let as_bob = Tamper {
        user_handle: Some(bob_handle),
        ..Tamper::default()
    };
    problem(
        sign_in_with(&app, &mut ada, &as_bob).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.audited("details->>'reason' = 'unknown_credential' AND target_id IS NULL")
            .await,
        1
    );

    // A challenge answered once: the second answer (even a right one) is refused.
    let (challenge_id, public_key) = sign_in_options(&app).await;
    let first = ada.sign_in(&public_key, ORIGIN);
    json_body(sign_in(&app, &challenge_id, &first).await, 200).await;
    let second = ada.sign_in(&public_key, ORIGIN);
    problem(
        sign_in(&app, &challenge_id, &second).await,
        401,
        "invalid_credentials",
    )
    .await;
    // An expired challenge.
    let (challenge_id, public_key) = sign_in_options(&app).await;
    sqlx::query("UPDATE webauthn_challenges SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("expire");
    let late = ada.sign_in(&public_key, ORIGIN);
    problem(
        sign_in(&app, &challenge_id, &late).await,
        401,
        "invalid_credentials",
    )
    .await;
    // A counter that goes backwards: refused and audited as such.
    let backwards = Tamper {
        counter: Some(1),
        ..Tamper::default()
    };
    problem(
        sign_in_with(&app, &mut ada, &backwards).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.audited("details->>'reason' = 'counter' AND outcome = 'failure'")
            .await,
        1
    );
    // Not well-formed at all: a validation problem, not a sign-in attempt.
    let (challenge_id, _) = sign_in_options(&app).await;
    let body = problem(
        sign_in(&app, &challenge_id, &json!({"id": "x"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "credential");
    // After all that, the right answer still signs in.
    json_body(sign_in_with(&app, &mut ada, &Tamper::default()).await, 200).await;
}

#[tokio::test]
async fn a_deactivated_user_cannot_sign_in_with_a_passkey() {
    let app = TestApp::spawn().await;
    let (_, mut ada) = with_passkey(&app, "ada@example.com").await;
    sqlx::query("UPDATE users SET status = 'deactivated', deactivated_at = now()")
        .execute(&app.pool)
        .await
        .expect("deactivate");
    problem(
        sign_in_with(&app, &mut ada, &Tamper::default()).await,
        403,
        "account_deactivated",
    )
    .await;
    assert_eq!(
        app.audited(
            "details->>'reason' = 'account_deactivated' AND details->>'method' = 'passkey'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn every_refusal_of_a_registration_names_its_field() {
    let app = TestApp::spawn().await;
    app.verified_user("ada@example.com").await;
    app.verified_user("bob@example.com").await;
    let ada = app.token("ada@example.com", PASSWORD).await;
    let bob = app.token("bob@example.com", PASSWORD).await;
    // The options need the password.
    problem(
        app.send(
            Method::POST,
            "/api/v1/users/me/passkeys/options",
            Some(&ada),
            Some(json!({"current_password": "not the password"})),
        )
        .await,
        401,
        "invalid_credentials",
    )
    .await;

    let cases: [(&str, Tamper, &str); 3] = [
        (
            "origin",
            Tamper {
                origin: Some("https://evil.example".into()),
                ..Tamper::default()
            },
            "credential",
        ),
        (
            "rp_id",
            Tamper {
                rp_id: Some("evil.example".into()),
                ..Tamper::default()
            },
            "credential",
        ),
        (
            "user verification",
            Tamper {
                user_verified: false,
                ..Tamper::default()
            },
            "credential",
        ),
    ];
    for (what, tamper, field) in &cases {
        let (challenge_id, public_key) = registration_options(&app, &ada).await;
        let (_, credential) = SoftPasskey::register_with(&public_key, ORIGIN, tamper);
        let body = problem(
            register(&app, &ada, &challenge_id, &credential).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], *field, "{what}");
    }

    // Bob's challenge, a sign-in's, a used one and an expired one: `challenge_id`.
    let (bobs, public_key) = registration_options(&app, &bob).await;
    let (_, credential) = SoftPasskey::register(&public_key, ORIGIN);
    let (sign_in_id, _) = sign_in_options(&app).await;
    let (used, public_key) = registration_options(&app, &ada).await;
    let (_, first) = SoftPasskey::register(&public_key, ORIGIN);
    json_body(register(&app, &ada, &used, &first).await, 201).await;
    let (expired, public_key) = registration_options(&app, &ada).await;
    let (_, late) = SoftPasskey::register(&public_key, ORIGIN);
    sqlx::query("UPDATE webauthn_challenges SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(&expired)
        .execute(&app.pool)
        .await
        .expect("expire");
    for (what, challenge_id, credential) in [
        ("another user's", &bobs, &credential),
        ("a sign-in's", &sign_in_id, &credential),
        ("a used one", &used, &first),
        ("an expired one", &expired, &late),
        (
            "an unknown one",
            &uuid::Uuid::new_v4().to_string(),
            &credential,
        ),
    ] {
        let body = problem(
            register(&app, &ada, challenge_id, credential).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "challenge_id", "{what}");
    }
    // Bob's challenge was not spent by Ada's attempt.
    json_body(register(&app, &bob, &bobs, &credential).await, 201).await;
}

#[tokio::test]
async fn two_answers_to_one_sign_in_challenge_let_one_in() {
    let app = TestApp::spawn().await;
    let (_, mut ada) = with_passkey(&app, "ada@example.com").await;
    let (challenge_id, public_key) = sign_in_options(&app).await;
    let answers: Vec<Value> = (0..4).map(|_| ada.sign_in(&public_key, ORIGIN)).collect();
    let url = app.url("/api/v1/auth/passkey/login");
    let statuses = join_all(answers.into_iter().map(|credential| {
        let (client, url) = (app.client.clone(), url.clone());
        let body = json!({"challenge_id": challenge_id, "credential": credential});
        async move {
            let sent = client.post(url).json(&body).send().await;
            sent.map(|r| r.status().as_u16()).unwrap_or(0)
        }
    }))
    .await;
    assert_one_winner(&statuses, 200, 401);
}

#[tokio::test]
async fn passkey_routes_are_gone_when_the_rp_id_is_an_ip_address() {
    let app = TestApp::spawn_with(&["--public-url", "http://127.0.0.1:8080"]).await;
    app.verified_user("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    problem(
        app.post("/api/v1/auth/passkey/options", json!({})).await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.get_as("/api/v1/users/me/passkeys", &token).await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.send(
            Method::POST,
            "/api/v1/users/me/passkeys/options",
            Some(&token),
            Some(json!({"current_password": PASSWORD})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

/// A ceremony started on one instance is finished on the other, both ways.
#[tokio::test]
async fn two_instances_share_the_ceremonies() {
    let test_db = crate::helpers::TestDb::empty().await;
    let envs = [
        ("RATE_LIMIT_ENABLED", "false"),
        ("BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        ("BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase"),
    ];
    let (mut first, first_addr) = start_binary(&test_db.url, &envs);
    let (mut second, second_addr) = start_binary(&test_db.url, &envs);
    let client = reqwest::Client::new();
    let call = |addr: &str, path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("http://{addr}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let login = json!({"email": "root@example.com", "password": "an admin passphrase"});
    let signed_in = call(&first_addr, "/api/v1/auth/login", None, login)
        .await
        .expect("login");
    let token = json_body(signed_in, 200).await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let options = call(
        &first_addr,
        "/api/v1/users/me/passkeys/options",
        Some(&token),
        json!({"current_password": "an admin passphrase"}),
    )
    .await
    .expect("options");
    let options = json_body(options, 200).await;
    let (mut authenticator, credential) = SoftPasskey::register(&options["publicKey"], ORIGIN);
    let made = call(
        &second_addr,
        "/api/v1/users/me/passkeys",
        Some(&token),
        json!({"challenge_id": options["challenge_id"], "name": "Key", "credential": credential}),
    )
    .await
    .expect("register");
    json_body(made, 201).await;

    let options = call(
        &second_addr,
        "/api/v1/auth/passkey/options",
        None,
        json!({}),
    )
    .await
    .expect("sign-in options");
    let options = json_body(options, 200).await;
    let assertion = authenticator.sign_in(&options["publicKey"], ORIGIN);
    let body = json!({"challenge_id": options["challenge_id"], "credential": assertion});
    let pair = call(
        &first_addr,
        "/api/v1/auth/passkey/login",
        None,
        body.clone(),
    )
    .await
    .expect("sign in");
    let pair = json_body(pair, 200).await;
    assert_eq!(
        claims(pair["access_token"].as_str().unwrap_or_default())["amr"],
        json!(["hwk"])
    );
    // The challenge is spent for the other instance too.
    let again = call(&second_addr, "/api/v1/auth/passkey/login", None, body)
        .await
        .expect("replay");
    problem(again, 401, "invalid_credentials").await;
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The passkey sign-in has buckets of its own per client, at the login rate: its options
/// and its answers each, apart from password logins.
#[tokio::test]
async fn the_passkey_sign_in_has_its_own_limits_per_client() {
    let app =
        TestApp::spawn_with(&["--rate-limit-enabled", "true", "--rate-limit-login", "3/1m"]).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(sign_in_options(&app).await.0);
    }
    let limited = app.post("/api/v1/auth/passkey/options", json!({})).await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429, "rate_limited").await;
    let junk = json!({"id": "x"});
    for id in &ids {
        problem(sign_in(&app, id, &junk).await, 422, "validation_failed").await;
    }
    problem(sign_in(&app, &ids[0], &junk).await, 429, "rate_limited").await;
    // Password logins still have all three of theirs.
    for _ in 0..3 {
        problem(
            app.login("nobody@example.com", "not a password at all")
                .await,
            401,
            "invalid_credentials",
        )
        .await;
    }
}
