//! The OpenAPI document, generated from the same route registrations that build the router,
//! so the two cannot drift apart.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::error::{FieldError, Problem};
use super::routes;
use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse",
        description = "User management: registration with email verification, JWT authentication, \
                       profiles, role-based access control, administration, audit trail and rate limiting.",
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "auth", description = "Registration, email verification, login, tokens, password recovery."),
        (name = "me", description = "The signed-in person's own account."),
        (name = "users", description = "Administration of users (see the permission table), and public avatars."),
        (name = "audit", description = "The audit trail."),
        (name = "operations", description = "Health, readiness and metrics."),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// Declares the bearer (JWT access token) security scheme.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every documented route, with its part of the document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::router())
        .merge(routes::jwks::router())
        .nest("/api/v1/auth", routes::auth::router())
        .nest("/api/v1/users/me", routes::me::router())
        .nest("/api/v1/users", routes::users::router())
        .nest("/api/v1/audit-events", routes::audit::router())
}

/// The OpenAPI document alone (for `gatehouse openapi` and the committed copy).
pub fn document() -> Document {
    routes().split_for_parts().1
}

/// The document as the service serves it and as `docs/openapi.json` holds it.
pub fn document_json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
