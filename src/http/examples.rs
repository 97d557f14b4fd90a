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
        "deactivated_at": null,
        "external_id": null
    })
}

/// An example line of an import or export (here, a user from Django).
pub fn import_line() -> Value {
    json!({
        "email": "grace@example.com",
        "name": "Grace Hopper",
        "role": "manager",
        "email_verified": true,
        "password_hash": "pbkdf2_sha256$1000000$X3bqPcBp0xEkoVZkIkDB2x$bcH4SPyJ0ylQbzLLqJvJbL8zHbwtB4bWWTRDN2yQJfs=",
        "preferences": {"locale": "en-US"},
        "created_at": "2019-04-01T09:30:00Z",
        "external_id": "django:1042"
    })
}

/// An example report of an import.
pub fn import_report() -> Value {
    json!({
        "created": 9998,
        "skipped": 1,
        "failed": 1,
        "errors": [{
            "line": 17,
            "email": "bob@example",
            "errors": [
                {"field": "email", "code": "invalid_format", "message": "must be a valid email address"},
                {"field": "password_hash", "code": "unrecognised_hash", "message": "is not a password hash format that can be imported"}
            ]
        }]
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

/// An example passkey.
pub fn passkey() -> Value {
    json!({
        "id": "0193a5c4-8a21-7d3e-a4f0-1b2c3d4e5f60",
        "name": "Work laptop",
        "created_at": "2026-11-26T12:00:00Z",
        "last_used_at": "2026-11-27T08:15:00Z"
    })
}

/// Example registration options (`PublicKeyCredentialCreationOptionsJSON`).
pub fn passkey_creation_options() -> Value {
    json!({
        "challenge_id": "5f0c2a8e-3b1d-4c7a-9e6f-2d8b4a1c7e30",
        "publicKey": {
            "rp": {"id": "login.example.com", "name": "Gatehouse"},
            "user": {"id": "AZOlxH8OfBqbHl0vOktcbQ", "name": "ada@example.com", "displayName": "Ada Lovelace"},
            "challenge": "q8Ui3HbOaS4f0vW2Jx9mYc7Lr1KpTn5eZgDs6AhQwVo",
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "timeout": 300000,
            "excludeCredentials": [],
            "authenticatorSelection": {"residentKey": "required", "requireResidentKey": true, "userVerification": "required"},
            "attestation": "none",
            "extensions": {"credentialProtectionPolicy": "userVerificationRequired", "enforceCredentialProtectionPolicy": false, "uvm": true, "credProps": true}
        }
    })
}

/// Example sign-in options (`PublicKeyCredentialRequestOptionsJSON`).
pub fn passkey_request_options() -> Value {
    json!({
        "challenge_id": "8d3e1f7a-2c4b-4a9e-b6d0-7f1a3c5e9b24",
        "publicKey": {
            "challenge": "Yt7mK2pQ9xVb4nR8cW1sJd6hF3gLz0aEuOi5kTy2MwX",
            "timeout": 300000,
            "rpId": "login.example.com",
            "allowCredentials": [],
            "userVerification": "required",
            "extensions": {"uvm": true}
        }
    })
}

/// An example registration answer (`PublicKeyCredential.toJSON()` after `create()`).
pub fn passkey_registration() -> Value {
    json!({
        "challenge_id": "5f0c2a8e-3b1d-4c7a-9e6f-2d8b4a1c7e30",
        "name": "Work laptop",
        "credential": {
            "id": "f3Jk9QmX2vLp8sTn4wRb6y",
            "rawId": "f3Jk9QmX2vLp8sTn4wRb6y",
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {"credProps": {"rk": true}},
            "response": {
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiLi4uIn0",
                "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVi...",
                "transports": ["internal", "hybrid"]
            }
        }
    })
}

/// An example sign-in answer (`PublicKeyCredential.toJSON()` after `get()`).
pub fn passkey_sign_in() -> Value {
    json!({
        "challenge_id": "8d3e1f7a-2c4b-4a9e-b6d0-7f1a3c5e9b24",
        "credential": {
            "id": "f3Jk9QmX2vLp8sTn4wRb6y",
            "rawId": "f3Jk9QmX2vLp8sTn4wRb6y",
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiLi4uIn0",
                "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
                "signature": "MEUCIQD...",
                "userHandle": "AZOlxH8OfBqbHl0vOktcbQ"
            }
        }
    })
}
