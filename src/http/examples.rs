//! Example values for the OpenAPI document (problems: [`super::problems`]).

use serde_json::{Value, json};

/// An example user.
pub fn user() -> Value {
    json!({
        "id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d",
        "email": "ada@example.com",
        "email_verified": true,
        "name": "Ada Lovelace",
        "role": "user",
        "status": "active",
        "avatar_url": null,
        "preferences": {"locale": "en-GB", "theme": "dark"},
        "created_at": "2026-11-26T12:00:00Z",
        "updated_at": "2026-11-26T12:00:00Z",
        "last_login_at": "2026-11-26T12:30:00Z",
        "deactivated_at": null
    })
}

/// An example user just registered.
pub fn pending_user() -> Value {
    let mut value = user();
    value["email_verified"] = json!(false);
    value["status"] = json!("pending_verification");
    value["last_login_at"] = Value::Null;
    value
}

/// An example token pair.
pub fn token_pair() -> Value {
    json!({
        "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
        "token_type": "Bearer",
        "expires_in": 900,
        "refresh_token": "q4Xh2b0v8oK3s1Jm9tP6dW5rY7uZ2cE4fG8hL0nQ1aB",
        "refresh_expires_in": 2592000
    })
}
