//! Passkeys (WebAuthn): one's own under `/api/v1/users/me/passkeys`, and the sign-in under
//! `/api/v1/auth/passkey`. The options are the WebAuthn Level 3 JSON forms that
//! `PublicKeyCredential.parseCreationOptionsFromJSON()` and
//! `parseRequestOptionsFromJSON()` take as they are; the answers are the browser's
//! `PublicKeyCredential.toJSON()`. With the RP ID an IP address, every route here is 404.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::passkey;
use crate::http::auth::AuthUser;
use crate::http::client::ClientMeta;
use crate::http::error::{ApiError, Problem};
use crate::http::examples as ex;
use crate::http::extract::{AppJson, AppPath};
use crate::http::problems::ProblemType as P;
use crate::http::rate_limit::limited;
use crate::http::responses::{BearerErrors, BodyErrors, MalformedBody, ServerErrors};
use crate::http::routes::me::ConfirmPasswordRequest;
use crate::http::state::AppState;
use crate::http::views::TokenPairView;
use crate::rate_limit::policy::RouteLimit as Limit;
use crate::users::passkeys::{self, PasskeyInfo};

/// One's own passkeys, under `/api/v1/users/me`.
pub fn me_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(registration_options))
        .routes(routes!(register_passkey, list_passkeys))
        .routes(routes!(rename_passkey, delete_passkey))
}

/// The passkey sign-in, under `/api/v1/auth`.
pub fn auth_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(limited(
            Limit::PasskeyOptions,
            OpenApiRouter::new().routes(routes!(sign_in_options)),
        ))
        .merge(limited(
            Limit::PasskeyLogin,
            OpenApiRouter::new().routes(routes!(passkey_login)),
        ))
}

/// A registered passkey.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!(ex::passkey()))]
pub struct PasskeyView {
    pub id: Uuid,
    /// The owner's name for it.
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The newest sign-in with it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyInfo> for PasskeyView {
    fn from(info: PasskeyInfo) -> Self {
        Self {
            id: info.id,
            name: info.name,
            created_at: info.created_at,
            last_used_at: info.last_used_at,
        }
    }
}

/// The caller's passkeys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [ex::passkey()]}))]
pub struct PasskeyListView {
    pub items: Vec<PasskeyView>,
}

/// The options of a ceremony: the challenge to answer with, and the options for the
/// browser.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyOptionsView {
    /// Send it back with the browser's answer.
    pub challenge_id: Uuid,
    /// For `navigator.credentials.create()` or `get()`, after
    /// `PublicKeyCredential.parseCreationOptionsFromJSON()` or
    /// `parseRequestOptionsFromJSON()`: WebAuthn Level 3 JSON, binary fields in base64url.
    #[serde(rename = "publicKey")]
    #[schema(schema_with = crate::http::openapi::webauthn_options_schema)]
    pub public_key: Value,
}

/// The browser's answer to a registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(ex::passkey_registration()))]
pub struct RegisterPasskeyRequest {
    /// From the options.
    pub challenge_id: Uuid,
    /// 1-100 characters after trimming white space, without control characters.
    #[schema(schema_with = crate::http::openapi::name_schema)]
    pub name: String,
    /// `PublicKeyCredential.toJSON()` of what `navigator.credentials.create()` gave.
    #[schema(schema_with = crate::http::openapi::webauthn_credential_schema)]
    pub credential: Value,
}

/// A new name for a passkey.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Phone"}))]
pub struct RenamePasskeyRequest {
    /// 1-100 characters after trimming white space, without control characters.
    #[schema(schema_with = crate::http::openapi::name_schema)]
    pub name: String,
}

/// The options of a passkey sign-in take no fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct SignInOptionsRequest {}

/// The browser's answer to a sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(ex::passkey_sign_in()))]
pub struct PasskeyLoginRequest {
    /// From the options.
    pub challenge_id: Uuid,
    /// `PublicKeyCredential.toJSON()` of what `navigator.credentials.get()` gave.
    #[schema(schema_with = crate::http::openapi::webauthn_credential_schema)]
    pub credential: Value,
}

/// Starts registering a passkey, once the password is checked again. The options ask for
/// a discoverable credential and user verification, and exclude the caller's passkeys;
/// the challenge lives 5 minutes.
#[utoipa::path(
    post, path = "/passkeys/options", tag = "me", security(("bearer" = [])),
    request_body = ConfirmPasswordRequest,
    responses(
        (status = 200, description = "The options.", body = CeremonyOptionsView,
         example = json!(ex::passkey_creation_options())),
        (status = 401, description = "Wrong password, or a bad access token.", body = Problem,
         content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 404, description = "Passkeys are off (the RP ID would be an IP address).", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("current_password", "required", "missing field `current_password`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn registration_options(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<ConfirmPasswordRequest>,
) -> Result<axum::Json<CeremonyOptionsView>, ApiError> {
    let password = body.current_password.expose();
    let options = passkeys::options(state.deps(), &caller, password, &meta).await?;
    Ok(axum::Json(CeremonyOptionsView {
        challenge_id: options.challenge_id,
        public_key: options.public_key,
    }))
}

/// Registers a passkey with the browser's answer to the options. The challenge is used
/// whatever the outcome.
#[utoipa::path(
    post, path = "/passkeys", tag = "me", security(("bearer" = [])),
    request_body = RegisterPasskeyRequest,
    responses(
        (status = 201, description = "Registered.", body = PasskeyView, example = json!(ex::passkey())),
        (status = 404, description = "Passkeys are off.", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        (status = 422, description = "A challenge that is unknown, used, expired, another user's or a \
                                      sign-in's (`challenge_id`); an answer that fails its checks: bad \
                                      attestation, wrong origin or RP ID, no user verification, or a passkey \
                                      registered already (`credential`); or a bad name.",
         body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("credential", "invalid_credential", "the credential was made for another origin"))),
        MalformedBody, BearerErrors, BodyErrors, ServerErrors,
    )
)]
pub async fn register_passkey(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<RegisterPasskeyRequest>,
) -> Result<(StatusCode, axum::Json<PasskeyView>), ApiError> {
    let made = passkeys::register(
        state.deps(),
        &caller,
        body.challenge_id,
        &body.name,
        &body.credential,
        &meta,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(made.into())))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    get, path = "/passkeys", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys.", body = PasskeyListView),
        (status = 404, description = "Passkeys are off.", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        BearerErrors, ServerErrors,
    )
)]
pub async fn list_passkeys(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<axum::Json<PasskeyListView>, ApiError> {
    let items = passkeys::list(state.deps(), &caller).await?;
    Ok(axum::Json(PasskeyListView {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Renames one of the caller's passkeys.
#[utoipa::path(
    patch, path = "/passkeys/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Passkey id")),
    request_body = RenamePasskeyRequest,
    responses(
        (status = 200, description = "Renamed.", body = PasskeyView, example = json!(ex::passkey())),
        (status = 404, description = "The caller has no such passkey, or passkeys are off.", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        (status = 422, description = "A bad name.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("name", "required", "must not be empty"))),
        MalformedBody, BearerErrors, BodyErrors, ServerErrors,
    )
)]
pub async fn rename_passkey(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<RenamePasskeyRequest>,
) -> Result<axum::Json<PasskeyView>, ApiError> {
    let renamed = passkeys::rename(state.deps(), &caller, id, &body.name, &meta).await?;
    Ok(axum::Json(renamed.into()))
}

/// Removes one of the caller's passkeys: it signs in no more.
#[utoipa::path(
    delete, path = "/passkeys/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "The caller has no such passkey, or passkeys are off.", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        BearerErrors, ServerErrors,
    )
)]
pub async fn delete_passkey(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    passkeys::remove(state.deps(), &caller, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a passkey sign-in: no email is asked (discoverable credentials). The challenge
/// lives 5 minutes; earlier ones stay valid.
#[utoipa::path(
    post, path = "/passkey/options", tag = "auth",
    security(),
    request_body = SignInOptionsRequest,
    responses(
        (status = 200, description = "The options.", body = CeremonyOptionsView,
         example = json!(ex::passkey_request_options())),
        (status = 404, description = "Passkeys are off.", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        (status = 422, description = "Fields were sent.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("body", "unknown_field", "unknown field `email`, there are no fields"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn sign_in_options(
    State(state): State<AppState>,
    AppJson(_body): AppJson<SignInOptionsRequest>,
) -> Result<axum::Json<CeremonyOptionsView>, ApiError> {
    let options = passkey::options(state.deps()).await?;
    Ok(axum::Json(CeremonyOptionsView {
        challenge_id: options.challenge_id,
        public_key: options.public_key,
    }))
}

/// Signs in with a passkey: complete on its own (no second step); the access token's
/// `amr` is `["hwk"]`.
#[utoipa::path(
    post, path = "/passkey/login", tag = "auth",
    security(),
    request_body = PasskeyLoginRequest,
    responses(
        (status = 200, description = "Signed in.", body = TokenPairView, example = json!(ex::token_pair())),
        (status = 401, description = "An unknown credential, a bad signature, a wrong origin or RP ID, no user \
                                      verification, a counter that went backwards, or a challenge that is \
                                      unknown, used or expired, alike.",
         body = Problem, content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 403, description = "The account is deactivated, or its email address is not verified.",
         body = Problem, content_type = "application/problem+json",
         examples(
             ("account_deactivated" = (value = json!(P::AccountDeactivated.example()))),
             ("email_not_verified" = (value = json!(P::EmailNotVerified.example()))),
         )),
        (status = 404, description = "Passkeys are off.", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        (status = 422, description = "Invalid fields, or a credential that is not a WebAuthn answer at all.",
         body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("credential", "invalid_credential", "the credential is not a well-formed WebAuthn response"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn passkey_login(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<PasskeyLoginRequest>,
) -> Result<axum::Json<TokenPairView>, ApiError> {
    let pair = passkey::sign_in(state.deps(), body.challenge_id, &body.credential, &meta).await?;
    Ok(axum::Json(pair.into()))
}
