//! Types that hold passwords, tokens or keys never print them in `Debug`: nothing logs
//! them today, and this keeps a future `tracing::debug!(?body)` from doing so.

use gatehouse::auth::login::TokenPair;
use gatehouse::http::routes::auth::{
    LoginMfaRequest, LoginRequest, RefreshRequest, RegisterRequest, ResetPasswordRequest,
    TokenRequest,
};
use gatehouse::http::routes::me::{
    ChangeEmailRequest, ChangePasswordRequest, ConfirmPasswordRequest,
};
use gatehouse::http::routes::mfa::{CodeRequest, PasswordAndCodeRequest};
use gatehouse::http::routes::users::CreateUserRequest;
use gatehouse::http::views::TokenPairView;
use gatehouse::users::accounts::NewAccount;
use gatehouse::users::mfa::{Enrolment, RecoveryCodes};

const SECRET: &str = "hunter2-the-secret";

fn json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("a valid body")
}

fn assert_hidden(shown: String) {
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn request_bodies_hide_passwords_and_tokens() {
    let email = "ada@example.com";
    assert_hidden(format!(
        "{:?}",
        json::<LoginRequest>(serde_json::json!({"email": email, "password": SECRET}))
    ));
    assert_hidden(format!(
        "{:?}",
        json::<RegisterRequest>(
            serde_json::json!({"email": email, "password": SECRET, "name": "Ada"})
        )
    ));
    assert_hidden(format!(
        "{:?}",
        json::<TokenRequest>(serde_json::json!({"token": SECRET}))
    ));
    assert_hidden(format!(
        "{:?}",
        json::<RefreshRequest>(serde_json::json!({"refresh_token": SECRET}))
    ));
    assert_hidden(format!(
        "{:?}",
        json::<ResetPasswordRequest>(serde_json::json!({"token": SECRET, "new_password": SECRET}))
    ));
    assert_hidden(format!(
        "{:?}",
        json::<ChangePasswordRequest>(
            serde_json::json!({"current_password": SECRET, "new_password": SECRET})
        )
    ));
    assert_hidden(format!(
        "{:?}",
        json::<ChangeEmailRequest>(
            serde_json::json!({"new_email": email, "current_password": SECRET})
        )
    ));
    assert_hidden(format!(
        "{:?}",
        json::<ConfirmPasswordRequest>(serde_json::json!({"current_password": SECRET}))
    ));
    for body in [
        serde_json::json!({"mfa_token": SECRET, "code": SECRET}),
        serde_json::json!({"mfa_token": SECRET, "recovery_code": SECRET}),
    ] {
        assert_hidden(format!("{:?}", json::<LoginMfaRequest>(body)));
    }
    assert_hidden(format!(
        "{:?}",
        json::<CodeRequest>(serde_json::json!({"code": SECRET}))
    ));
    assert_hidden(format!(
        "{:?}",
        json::<PasswordAndCodeRequest>(
            serde_json::json!({"current_password": SECRET, "code": SECRET})
        )
    ));
    assert_hidden(format!(
        "{:?}",
        Enrolment {
            secret: SECRET.to_owned(),
            otpauth_uri: SECRET.to_owned(),
            qr_svg: SECRET.to_owned(),
        }
    ));
    assert_hidden(format!("{:?}", RecoveryCodes(vec![SECRET.to_owned()])));
    assert_hidden(format!(
        "{:?}",
        json::<CreateUserRequest>(
            serde_json::json!({"email": email, "name": "Ada", "role": "user", "password": SECRET})
        )
    ));
}

#[test]
fn tokens_accounts_and_keys_hide_their_secrets() {
    let pair = TokenPair {
        access_token: SECRET.to_owned(),
        expires_in: 900,
        refresh_token: SECRET.to_owned(),
        refresh_expires_in: 60,
    };
    assert_hidden(format!("{pair:?}"));
    assert_hidden(format!("{:?}", TokenPairView::from(pair)));
    let account = NewAccount {
        email: "ada@example.com".to_owned(),
        name: "Ada".to_owned(),
        password: Some(gatehouse::secret::Secret::new(SECRET.to_owned())),
        preferences: None,
    };
    assert_hidden(format!("{account:?}"));

    let dir = std::env::temp_dir().join(format!("gatehouse-debug-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let retired = dir.join("retired.pem");
    std::fs::write(&retired, gatehouse::tokens::generate_ed25519_pem()).expect("key");
    let pem = std::fs::read_to_string(&retired).unwrap_or_default();
    let body = pem.lines().nth(1).unwrap_or_default().to_owned();
    let settings = crate::helpers::settings(
        "postgres://u:db-password@localhost/x",
        &[
            "--jwt-verify-key-files",
            &retired.to_string_lossy(),
            "--bootstrap-admin-email",
            "root@example.com",
            "--bootstrap-admin-password",
            SECRET,
        ],
    );
    let shown = format!("{settings:?}");
    std::fs::remove_dir_all(&dir).ok();
    assert!(!body.is_empty());
    assert!(!shown.contains(&body), "a retired key's PEM is shown");
    assert!(!shown.contains("db-password"));
    assert_hidden(shown);
}
