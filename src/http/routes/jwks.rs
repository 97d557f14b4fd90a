//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// The JSON Web Key Set as the document shows it. The handler sends the set that
/// `tokens::TokenKeys` built (jsonwebtoken's `JwkSet`), which has these members; both
/// schemas stay open, as RFC 7517 lets a key set and a key carry further members.
pub struct JwkSet;

impl PartialSchema for JwkSet {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A JSON Web Key Set (RFC 7517): the signing key, then every retired key still accepted.",
            ))
            .property(
                "keys",
                ArrayBuilder::new().items(Ref::from_schema_name(Jwk::name())),
            )
            .required("keys")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
            .into()
    }
}

impl ToSchema for JwkSet {
    fn name() -> std::borrow::Cow<'static, str> {
        "JwkSet".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Jwk::name().into_owned(), Jwk::schema()));
    }
}

/// One public key of the set (RFC 7517, RFC 8037 for Ed25519): no private member, ever.
pub struct Jwk;

impl PartialSchema for Jwk {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A public signing key (RFC 7517)."))
            .property("kty", text("Key type: `OKP` (Ed25519) or `EC` (P-256)."))
            .property("crv", text("Curve: `Ed25519` or `P-256`."))
            .property(
                "x",
                text("The public key (base64url); for P-256, its x coordinate."),
            )
            .property("y", text("The y coordinate (base64url); P-256 keys only."))
            .property("use", text("Always `sig`."))
            .property("alg", text("`EdDSA` or `ES256`."))
            .property(
                "kid",
                text("Key id, the RFC 7638 thumbprint (SHA-256, base64url): the `kid` in the header of the tokens it verifies."),
            )
            .required("kty")
            .required("crv")
            .required("x")
            .required("use")
            .required("alg")
            .required("kid")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
            .into()
    }
}

impl ToSchema for Jwk {
    fn name() -> std::borrow::Cow<'static, str> {
        "Jwk".into()
    }
}

/// The JSON Web Key Set: the signing key and every retired key still accepted.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    security(),
    responses(
        (status = 200, description = "Public keys (RFC 7517).", body = JwkSet, content_type = "application/json",
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
