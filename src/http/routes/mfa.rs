//! `/api/v1/users/me/mfa`: one's own two-step sign-in (TOTP and recovery codes). Every
//! answer carries `Cache-Control: no-store` (the middleware's default for the API).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::AuthUser;
use crate::http::client::ClientMeta;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AppJson;
use crate::http::problems::ProblemType as P;
use crate::http::responses::{BearerErrors, BodyErrors, MalformedBody, ServerErrors};
use crate::http::routes::me::ConfirmPasswordRequest;
use crate::http::state::AppState;
use crate::secret::Secret;
use crate::users::mfa::{self, Enrolment, MfaStatus, RecoveryCodes};

/// Routes of this module, under `/api/v1/users/me`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mfa_status))
        .routes(routes!(begin_totp, disable_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(regenerate_recovery_codes))
}

const EXAMPLE_CODES: [&str; 10] = [
    "7k2mq-x9d4t",
    "h3v8n-c6p2w",
    "r5t1b-m8k3z",
    "q2w9e-n4x7d",
    "p6j3h-t1v5c",
    "z8m2k-d4q9b",
    "c1x6w-h7n3r",
    "t9b4p-k2m8v",
    "w3d7q-x5c1j",
    "n6h2z-b8t4m",
];

/// The state of the caller's second steps.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"totp": true, "recovery_codes_remaining": 8, "passkeys": 0}))]
pub struct MfaStatusView {
    /// An authenticator app (TOTP) is on.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_remaining: i64,
    /// Passkeys registered.
    pub passkeys: i64,
}

impl From<MfaStatus> for MfaStatusView {
    fn from(status: MfaStatus) -> Self {
        Self {
            totp: status.totp,
            recovery_codes_remaining: status.recovery_codes_remaining,
            passkeys: status.passkeys,
        }
    }
}

/// A started enrolment: the secret for the authenticator app, three ways.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/Gatehouse:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30",
    "qr_svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" …>…</svg>"
}))]
pub struct EnrolmentView {
    /// The secret in base32 (at least 160 bits), to type in.
    pub secret: String,
    /// The `otpauth://` URI that authenticator apps read.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

impl From<Enrolment> for EnrolmentView {
    fn from(enrolment: Enrolment) -> Self {
        Self {
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
            qr_svg: enrolment.qr_svg,
        }
    }
}

/// Recovery codes, shown this once: each works once, in place of an authenticator code.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": EXAMPLE_CODES}))]
pub struct RecoveryCodesView {
    /// 10 codes, `xxxxx-xxxxx`.
    pub recovery_codes: Vec<String>,
}

impl From<RecoveryCodes> for RecoveryCodesView {
    fn from(codes: RecoveryCodes) -> Self {
        Self {
            recovery_codes: codes.0,
        }
    }
}

/// A code of the second step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct CodeRequest {
    /// A current authenticator code (6 digits) or an unused recovery code.
    #[schema(value_type = String, max_length = 64)]
    pub code: Secret<String>,
}

/// The password and a code of the second step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "code": "492039"}))]
pub struct PasswordAndCodeRequest {
    #[schema(value_type = String, max_length = 1024)]
    pub current_password: Secret<String>,
    /// A current authenticator code (6 digits) or an unused recovery code.
    #[schema(value_type = String, max_length = 64)]
    pub code: Secret<String>,
}

/// The caller's second steps: TOTP on or off, recovery codes left, passkeys.
#[utoipa::path(
    get, path = "/mfa", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The state.", body = MfaStatusView),
        BearerErrors, ServerErrors,
    )
)]
pub async fn mfa_status(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<axum::Json<MfaStatusView>, ApiError> {
    Ok(axum::Json(mfa::status(state.deps(), &caller).await?.into()))
}

/// Starts enrolling an authenticator app. Not active until confirmed with a code; a new
/// call replaces an unconfirmed enrolment.
#[utoipa::path(
    post, path = "/mfa/totp", tag = "me", security(("bearer" = [])),
    request_body = ConfirmPasswordRequest,
    responses(
        (status = 201, description = "Enrolment started: add the secret to the app, then confirm.", body = EnrolmentView),
        (status = 401, description = "Wrong password, or a bad access token.", body = Problem,
         content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 409, description = "TOTP is on already.", body = Problem,
         content_type = "application/problem+json", example = json!(P::MfaConflict.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("current_password", "required", "missing field `current_password`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn begin_totp(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<ConfirmPasswordRequest>,
) -> Result<(StatusCode, axum::Json<EnrolmentView>), ApiError> {
    let password = body.current_password.expose();
    let enrolment = mfa::begin(state.deps(), &caller, password, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(enrolment.into())))
}

/// Confirms the enrolment with a code from the app: TOTP is on, every other session ends,
/// and the recovery codes are shown this once.
#[utoipa::path(
    post, path = "/mfa/totp/confirm", tag = "me", security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "TOTP is on.", body = RecoveryCodesView),
        (status = 409, description = "No enrolment is pending.", body = Problem,
         content_type = "application/problem+json", example = json!(P::MfaConflict.example())),
        (status = 422, description = "A wrong code, or invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("code", "invalid_code", "is not a current authenticator code nor an unused recovery code"))),
        MalformedBody, BearerErrors, BodyErrors, ServerErrors,
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<CodeRequest>,
) -> Result<axum::Json<RecoveryCodesView>, ApiError> {
    let codes = mfa::confirm(state.deps(), &caller, body.code.expose(), &meta).await?;
    Ok(axum::Json(codes.into()))
}

/// Switches TOTP off and deletes the recovery codes.
#[utoipa::path(
    delete, path = "/mfa/totp", tag = "me", security(("bearer" = [])),
    request_body = PasswordAndCodeRequest,
    responses(
        (status = 204, description = "TOTP is off."),
        (status = 401, description = "Wrong password, or a bad access token.", body = Problem,
         content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 409, description = "TOTP is not on.", body = Problem,
         content_type = "application/problem+json", example = json!(P::MfaConflict.example())),
        (status = 422, description = "A wrong code, or invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("code", "invalid_code", "is not a current authenticator code nor an unused recovery code"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn disable_totp(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<PasswordAndCodeRequest>,
) -> Result<StatusCode, ApiError> {
    let (password, code) = (body.current_password.expose(), body.code.expose());
    mfa::disable(state.deps(), &caller, password, code, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New recovery codes, shown this once; the old set stops working.
#[utoipa::path(
    post, path = "/mfa/recovery-codes", tag = "me", security(("bearer" = [])),
    request_body = PasswordAndCodeRequest,
    responses(
        (status = 200, description = "The new codes.", body = RecoveryCodesView),
        (status = 401, description = "Wrong password, or a bad access token.", body = Problem,
         content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 409, description = "TOTP is not on.", body = Problem,
         content_type = "application/problem+json", example = json!(P::MfaConflict.example())),
        (status = 422, description = "A wrong code, or invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("code", "invalid_code", "is not a current authenticator code nor an unused recovery code"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<PasswordAndCodeRequest>,
) -> Result<axum::Json<RecoveryCodesView>, ApiError> {
    let (password, code) = (body.current_password.expose(), body.code.expose());
    let codes = mfa::regenerate(state.deps(), &caller, password, code, &meta).await?;
    Ok(axum::Json(codes.into()))
}
