//! The OpenAPI document, generated from the same route registrations that build the router,
//! so the two cannot drift apart.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType,
    Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::error::{FieldError, Problem};
use super::responses;
use super::routes;
use crate::http::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse",
        description = "User management: registration with email verification, JWT authentication, \
                       profiles, role-based access control, administration, audit trail and rate limiting.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers(
        (url = "/", description = "The service that serves this document (at `/openapi.json`): \
                                   paths are relative to its origin."),
    ),
    tags(
        (name = "auth", description = "Registration, email verification, login, tokens, password recovery."),
        (name = "me", description = "The signed-in person's own account."),
        (name = "users", description = "Administration of users (see the permission table), and public avatars."),
        (name = "audit", description = "The audit trail."),
        (name = "operations", description = "Health, readiness and metrics."),
        (name = "pages", description = "The HTML pages that mailed links open (not JSON): each acts only \
                                        when its button is pressed, so link scanners cannot use up a token."),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// An object open to any member: `additionalProperties: true` said outright, so client
/// generators type its members as any JSON value rather than as an empty object.
pub fn open_object(schema_type: impl Into<SchemaType>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
        .build()
}

/// The name rule of `users::model::Name` as a pattern: 1-100 characters once white space
/// is trimmed, no control characters.
const NAME_PATTERN: &str = "^[\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]([^\\u0000-\\u001F\\u007F-\\u009F]{0,98}[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000])?[\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$";

fn name_of_type(schema_type: impl Into<SchemaType>) -> Object {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .description(Some(
            "1-100 characters after trimming white space, without control characters.",
        ))
        .pattern(Some(NAME_PATTERN))
        .build()
}

/// `schema_with` of a required `name`.
pub fn name_schema() -> Object {
    name_of_type(Type::String)
}

/// `schema_with` of an optional `name`.
pub fn optional_name_schema() -> Object {
    name_of_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// `schema_with` of a browser's WebAuthn answer, `PublicKeyCredential.toJSON()`.
pub fn webauthn_credential_schema() -> Object {
    open_object(
        Type::Object,
        "`PublicKeyCredential.toJSON()` as the browser gives it (WebAuthn Level 3): `id`, \
         `rawId`, `type`, `response` with base64url fields, `clientExtensionResults`.",
    )
}

/// `schema_with` of ceremony options for the browser.
pub fn webauthn_options_schema() -> Object {
    open_object(
        Type::Object,
        "WebAuthn Level 3 JSON (`PublicKeyCredentialCreationOptionsJSON` or \
         `PublicKeyCredentialRequestOptionsJSON`), binary fields in base64url: give it to \
         `PublicKeyCredential.parseCreationOptionsFromJSON()` or `parseRequestOptionsFromJSON()`.",
    )
}

/// `preferences` are any JSON object, so their schema is a plain open object. The one rule
/// beyond size and depth, no U+0000 in a string or key (PostgreSQL's `jsonb` cannot store
/// it), is said in words: written as a schema it needs a recursive one, which client
/// generators cannot take (openapi-python-client drops every model that holds it,
/// openapi-typescript emits a circular type). The fuzzer's hooks
/// (scripts/fuzz-api-hooks.py) list that refusal.
const NO_NUL: &str = " No string or key may hold U+0000 (422 `invalid_characters`).";

/// `schema_with` of a user's `preferences`.
pub fn preferences_schema() -> Object {
    open_object(
        Type::Object,
        &format!(
            "Any JSON object, at most 16 KiB, nested at most 32 levels of objects and arrays.{NO_NUL}"
        ),
    )
}

/// `schema_with` of the optional `preferences` of a new account.
pub fn new_preferences_schema() -> Object {
    open_object(
        SchemaType::from_iter([Type::Object, Type::Null]),
        &format!(
            "Any JSON object up to 16 KiB, nested at most 32 levels of objects and arrays.{NO_NUL}"
        ),
    )
}

/// `schema_with` of a `preferences` change.
pub fn preferences_patch_schema() -> Object {
    open_object(
        SchemaType::from_iter([Type::Object, Type::Null]),
        &format!(
            "Merge patch (RFC 7396): a `null` value removes a key; `null` as a whole clears them.{NO_NUL}"
        ),
    )
}

/// Raw bytes of an image body (the avatar routes): `format: binary`, so client generators
/// offer a file or byte type for it instead of leaving the body out.
pub struct BinaryImage;

impl PartialSchema for BinaryImage {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for BinaryImage {}

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
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::router())
        .merge(routes::jwks::router())
        .merge(routes::pages::router())
        .nest("/api/v1/auth", routes::auth::router())
        .nest("/api/v1/users/me", routes::me::router())
        .nest("/api/v1/users", routes::users::router())
        .nest("/api/v1/audit-events", routes::audit::router());
    add_rate_limited(router.get_openapi_mut());
    router
}

/// Rate limits apply to every route, so every operation can answer 429 and every response
/// carries the `RateLimit-*` headers: added here once rather than to each operation's
/// annotation, where a new route could forget them.
fn add_rate_limited(document: &mut Document) {
    const NAME: &str = "RateLimited";
    let components = document.components.get_or_insert_with(Default::default);
    components
        .responses
        .insert(NAME.to_owned(), RefOr::T(responses::rate_limited()));
    let with_headers = |response: &mut utoipa::openapi::Response| {
        for (name, header) in responses::rate_limit_headers() {
            response.headers.entry(name.to_owned()).or_insert(header);
        }
    };
    for response in components.responses.values_mut() {
        if let RefOr::T(response) = response {
            with_headers(response);
        }
    }
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            responses
                .entry("429".to_owned())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(NAME)));
            for response in responses.values_mut() {
                if let RefOr::T(response) = response {
                    with_headers(response);
                }
            }
        }
    }
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

/// A document as JSON. (Serialising the document's plain data cannot fail; were it to,
/// the error would be the document, and the drift test would show it.)
pub fn to_value(document: &Document) -> serde_json::Value {
    serde_json::to_value(document).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}))
}

/// The 3.0 document, converted from the 3.1 one, as `docs/openapi-3.0.json` holds it.
pub fn document_3_0_json() -> String {
    let converted = super::openapi30::convert(&to_value(&document()));
    serde_json::to_string_pretty(&converted).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
