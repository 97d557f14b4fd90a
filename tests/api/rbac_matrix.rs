//! The permission matrix: every administration operation, as admin, manager and user, on
//! a user, a manager, an admin and oneself, against the contract's table.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    User,
    Manager,
    Admin,
    Itself,
}

impl Target {
    /// The role of a target other than the caller itself.
    fn role(self) -> Option<&'static str> {
        match self {
            Self::User => Some("user"),
            Self::Manager => Some("manager"),
            Self::Admin => Some("admin"),
            Self::Itself => None,
        }
    }
}

const TARGETS: [Target; 4] = [Target::User, Target::Manager, Target::Admin, Target::Itself];

/// Operations on a user, with the expected status for each target, per caller role
/// (admin, manager, user).
const ON_A_USER: &[(&str, &str, [[u16; 4]; 3])] = &[
    //                          admin: user mgr adm self   manager              user
    (
        "GET",
        "/api/v1/users/{id}",
        [
            [200, 200, 200, 200],
            [200, 200, 200, 200],
            [403, 403, 403, 200],
        ],
    ),
    (
        "PATCH",
        "/api/v1/users/{id}",
        [
            [200, 200, 200, 200],
            [200, 403, 403, 403],
            [403, 403, 403, 403],
        ],
    ),
    (
        "DELETE",
        "/api/v1/users/{id}",
        [
            [204, 204, 204, 403],
            [204, 403, 403, 403],
            [403, 403, 403, 403],
        ],
    ),
    (
        "PUT",
        "/api/v1/users/{id}/role",
        [
            [200, 200, 200, 403],
            [403, 403, 403, 403],
            [403, 403, 403, 403],
        ],
    ),
    // Restore targets are deactivated first, except oneself (active: 409 for the admin).
    (
        "POST",
        "/api/v1/users/{id}/restore",
        [
            [200, 200, 200, 409],
            [403, 403, 403, 403],
            [403, 403, 403, 403],
        ],
    ),
    (
        "DELETE",
        "/api/v1/users/{id}/sessions",
        [
            [204, 204, 204, 204],
            [403, 403, 403, 403],
            [403, 403, 403, 403],
        ],
    ),
    // Targets have no second step on: an admin passes the table and meets 409.
    (
        "DELETE",
        "/api/v1/users/{id}/mfa",
        [
            [409, 409, 409, 409],
            [403, 403, 403, 403],
            [403, 403, 403, 403],
        ],
    ),
];

/// Operations without a target: expected status per caller role (admin, manager, user).
const WITHOUT_TARGET: &[(&str, &str, [u16; 3])] = &[
    ("GET", "/api/v1/users", [200, 200, 403]),
    ("POST", "/api/v1/users", [201, 403, 403]),
    ("GET", "/api/v1/audit-events", [200, 403, 403]),
    // Sent without an NDJSON body: the admin passes the table and meets 415.
    ("POST", "/api/v1/users/import", [415, 403, 403]),
    ("GET", "/api/v1/users/export", [200, 403, 403]),
];

fn body_for(method: &str, path: &str, target: Target) -> Option<serde_json::Value> {
    match (method, path.rsplit('/').next().unwrap_or_default()) {
        ("PATCH", _) => Some(json!({"name": "Renamed"})),
        ("PUT", "role") => {
            Some(json!({"role": if target == Target::User { "manager" } else { "user" }}))
        }
        ("POST", "users") => Some(
            json!({"email": format!("new-{}@example.com", uuid::Uuid::now_v7().simple()),
                                         "name": "New", "role": "user"}),
        ),
        _ => None,
    }
}

#[tokio::test]
async fn every_administration_operation_follows_the_permission_table() {
    let app = TestApp::spawn().await;
    let setup = app.admin().await;
    let mut actors = [
        app.admin().await,
        app.member(&setup, "manager@example.com", "manager").await,
        app.member(&setup, "user@example.com", "user").await,
    ];
    let mut failures = Vec::new();

    for (method, path, expected) in WITHOUT_TARGET {
        for (role, actor) in actors.iter().enumerate() {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let status = app
                .send(
                    method.clone(),
                    path,
                    Some(&actor.token),
                    body_for(method.as_str(), path, Target::User),
                )
                .await
                .status()
                .as_u16();
            if status != expected[role] {
                failures.push(format!(
                    "{method} {path} as {}: {status}, expected {}",
                    actor.email, expected[role]
                ));
            }
        }
    }

    for (method, template, expected) in ON_A_USER {
        for role in 0..3 {
            for (column, target) in TARGETS.iter().enumerate() {
                let actor = actors[role].clone();
                // A fresh target each time, invited: no password to hash, so cheap.
                let id = match target.role() {
                    None => actor.id.clone(),
                    Some(role) => {
                        let email = format!("t-{}@example.com", uuid::Uuid::now_v7().simple());
                        app.invite(&setup, &email, "Target", role).await
                    }
                };
                if template.ends_with("/restore") && *target != Target::Itself {
                    sqlx::query("UPDATE users SET status = 'deactivated', deactivated_at = now() WHERE id = $1::uuid")
                        .bind(&id)
                        .execute(&app.pool)
                        .await
                        .expect("deactivate");
                }
                let path = template.replace("{id}", &id);
                let http_method = Method::from_bytes(method.as_bytes()).expect("method");
                let status = app
                    .send(
                        http_method,
                        &path,
                        Some(&actor.token),
                        body_for(method, template, *target),
                    )
                    .await
                    .status()
                    .as_u16();
                if status != expected[role][column] {
                    failures.push(format!(
                        "{method} {template} as {} on {target:?}: {status}, expected {}",
                        actor.email, expected[role][column]
                    ));
                }
                // Ending one's own sessions signs the actor out: sign in again.
                if template.ends_with("/sessions") && *target == Target::Itself && status == 204 {
                    actors[role].token = app.token(&actor.email, PASSWORD).await;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_matrix_covers_every_administration_operation_of_the_document() {
    let document: serde_json::Value =
        serde_json::from_str(&gatehouse::http::openapi::document_json()).expect("document");
    let covered: BTreeSet<(String, String)> = ON_A_USER
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .chain(
            WITHOUT_TARGET
                .iter()
                .map(|(m, p, _)| (m.to_string(), p.to_string())),
        )
        .collect();
    assert_eq!(
        covered.len(),
        ON_A_USER.len() + WITHOUT_TARGET.len(),
        "a row of the matrix is repeated"
    );
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    let mut administered = BTreeSet::new();
    for (path, operations) in paths {
        let is_administration = (path.starts_with("/api/v1/users")
            && !path.starts_with("/api/v1/users/me"))
            || path.starts_with("/api/v1/audit-events");
        // The avatar is public by contract: no role involved.
        if !is_administration || path.ends_with("/avatar") {
            continue;
        }
        let operations = operations.as_object().expect("a path item is an object");
        for method in operations.keys() {
            administered.insert((method.to_uppercase(), path.clone()));
        }
    }
    // An empty or misread document must not pass for a covered one.
    for known in [
        ("GET", "/api/v1/users"),
        ("DELETE", "/api/v1/users/{id}"),
        ("GET", "/api/v1/audit-events"),
    ] {
        assert!(
            administered.contains(&(known.0.to_owned(), known.1.to_owned())),
            "{known:?} is not among the document's operations: {administered:?}"
        );
    }
    let missing: Vec<_> = administered.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "operations without a row in the permission matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&administered).collect();
    assert!(
        stale.is_empty(),
        "rows of the permission matrix for no operation of the document: {stale:?}"
    );
}
