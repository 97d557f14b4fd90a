//! Access tokens: the JWKS verifies them, and forged ones are refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, problem};

/// A verified user's access token.
async fn access_token(app: &TestApp) -> String {
    app.verified_user("jwt@example.com").await;
    app.token("jwt@example.com", PASSWORD).await
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut pieces = token.split('.');
    let decode = |p: Option<&str>| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(p.unwrap_or_default())
                .unwrap_or_default(),
        )
        .unwrap_or(Value::Null)
    };
    let header = decode(pieces.next());
    let claims = decode(pieces.next());
    (header, claims, pieces.next().unwrap_or_default().to_owned())
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

async fn expect_refused(app: &TestApp, token: &str, code: &str) {
    problem(
        app.post_bearer("/api/v1/auth/logout-all", token).await,
        401,
        code,
    )
    .await;
}

#[tokio::test]
async fn the_jwks_verifies_issued_tokens() {
    let app = TestApp::spawn().await;
    let token = access_token(&app).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap_or_default()
            .contains("max-age")
    );
    let jwks: jsonwebtoken::jwk::JwkSet = response.json().await.expect("jwks");
    let (header, claims, _) = parts(&token);
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().unwrap_or_default();
    let jwk = jwks.find(kid).expect("the token's kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("usable key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["gatehouse"]);
    validation.set_issuer(&["gatehouse"]);
    let verified = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("verifies");
    assert_eq!(verified.claims, claims);
    for claim in ["iss", "aud", "sub", "sid", "role", "iat", "exp", "jti"] {
        assert!(!claims[claim].is_null(), "claim {claim}");
    }
    assert_eq!(claims["role"], "user");
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        900
    );
}

#[tokio::test]
async fn requests_without_a_bearer_token_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/logout-all"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401, "unauthenticated").await;
    let basic = app
        .client
        .post(app.url("/api/v1/auth/logout-all"))
        .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        .send()
        .await
        .expect("send");
    problem(basic, 401, "unauthenticated").await;
    expect_refused(&app, "not-a-jwt", "invalid_token").await;
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = access_token(&app).await;
    let (header, claims, signature) = parts(&token);

    // alg: none, no signature.
    let mut none = header.clone();
    none["alg"] = json!("none");
    expect_refused(
        &app,
        &format!("{}.{}.", encode_part(&none), encode_part(&claims)),
        "invalid_token",
    )
    .await;

    // HS256 signed with the public key as the shared secret (the classic key confusion).
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .expect("jwks");
    let public_x = jwks["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    for secret in [
        public_x.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(&public_x).unwrap_or_default(),
    ] {
        let forged = jsonwebtoken::encode(&hs_header, &claims, &EncodingKey::from_secret(&secret))
            .expect("sign");
        expect_refused(&app, &forged, "invalid_token").await;
    }

    // Tampered claims with the original signature: promote to admin.
    let mut promoted = claims.clone();
    promoted["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        encode_part(&header),
        encode_part(&promoted),
        signature
    );
    expect_refused(&app, &tampered, "invalid_token").await;

    // Unknown kid.
    let mut unknown = header.clone();
    unknown["kid"] = json!("some-other-key");
    let relabelled = format!(
        "{}.{}.{}",
        encode_part(&unknown),
        encode_part(&claims),
        signature
    );
    expect_refused(&app, &relabelled, "invalid_token").await;

    // Properly signed by our own key (the development key is public), but wrong in a claim.
    let key = EncodingKey::from_ed_pem(gatehouse::config::DEV_JWT_SIGNING_KEY_PEM.as_bytes())
        .expect("dev key");
    let mut ed_header = Header::new(Algorithm::EdDSA);
    ed_header.kid = header["kid"].as_str().map(str::to_owned);
    let now = chrono::Utc::now().timestamp();
    let sign = |changes: Value| {
        let mut c = claims.clone();
        if let (Some(c), Some(changes)) = (c.as_object_mut(), changes.as_object()) {
            for (k, v) in changes {
                c.insert(k.clone(), v.clone());
            }
        }
        jsonwebtoken::encode(&ed_header, &c, &key).expect("sign")
    };
    assert_eq!(
        app.post_bearer("/api/v1/auth/logout-all", &sign(json!({})))
            .await
            .status(),
        204,
        "control: a genuine re-signature works"
    );
    // That ended the session; log in again for the remaining cases.
    let fresh = parts(&app.token("jwt@example.com", PASSWORD).await).1;
    let sign = |changes: Value| {
        let mut c = fresh.clone();
        if let (Some(c), Some(changes)) = (c.as_object_mut(), changes.as_object()) {
            for (k, v) in changes {
                c.insert(k.clone(), v.clone());
            }
        }
        jsonwebtoken::encode(&ed_header, &c, &key).expect("sign")
    };
    expect_refused(
        &app,
        &sign(json!({"exp": now - 60, "iat": now - 1000, "nbf": now - 1000})),
        "token_expired",
    )
    .await;
    expect_refused(&app, &sign(json!({"aud": "billing"})), "invalid_token").await;
    expect_refused(&app, &sign(json!({"iss": "someone-else"})), "invalid_token").await;
    expect_refused(&app, &sign(json!({"nbf": now + 3600})), "invalid_token").await;
    expect_refused(
        &app,
        &sign(json!({"sid": uuid::Uuid::now_v7()})),
        "token_revoked",
    )
    .await;
}
