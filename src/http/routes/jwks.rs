//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// The JSON Web Key Set: the signing key and every retired key still accepted.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses(
        (status = 200, description = "Public keys (RFC 7517).", body = Object, content_type = "application/json",
         example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                                    "use": "sig", "alg": "EdDSA", "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}]})),
    )
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.deps().tokens.jwks()).into_response();
    // Verifiers may cache the keys briefly; a rotation keeps the old key published anyway.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
