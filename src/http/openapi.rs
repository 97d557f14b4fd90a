//! The OpenAPI document, generated from the same route registrations that build the router,
//! so the two cannot drift apart.

use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;
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
        (name = "operations", description = "Health, readiness and metrics."),
    ),
    components(schemas(Problem, FieldError)),
)]
struct ApiDoc;

/// Every documented route, with its part of the document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes::health::router())
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
