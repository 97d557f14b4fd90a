//! `/api/v1/auth`: registration, verification, login, refresh, logout, password recovery.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::mfa::Answer;
use crate::auth::{login, mfa, recovery, verification};
use crate::http::auth::AuthUser;
use crate::http::client::ClientMeta;
use crate::http::error::{ApiError, Problem};
use crate::http::examples as ex;
use crate::http::extract::AppJson;
use crate::http::problems::ProblemType as P;
use crate::http::rate_limit::{Noted, limited};
use crate::http::responses::{BearerErrors, BodyErrors, MalformedBody, ServerErrors};
use crate::http::state::AppState;
use crate::http::views::{TokenPairView, UserView};
use crate::rate_limit::policy::RouteLimit as Limit;
use crate::secret::Secret;
use crate::users::accounts::{self, NewAccount, Origin};

/// Routes of this module, under `/api/v1/auth`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(limited(Limit::Register, one(routes!(register))))
        .routes(routes!(verify_email))
        .routes(routes!(revert_email))
        .merge(limited(
            Limit::ResendVerification,
            one(routes!(resend_verification)),
        ))
        .merge(limited(Limit::Login, one(routes!(login))))
        .merge(limited(Limit::LoginMfa, one(routes!(login_mfa))))
        .merge(super::passkeys::auth_router())
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .merge(limited(
            Limit::ForgotPassword,
            one(routes!(forgot_password)),
        ))
        .routes(routes!(reset_password))
}

/// A router of one route, to give it a limit of its own.
fn one(route: UtoipaMethodRouter<AppState>) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(route)
}

/// Registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace", "preferences": {"theme": "dark"}}))]
pub struct RegisterRequest {
    /// An email address (ASCII); white space around it is trimmed, and it is compared
    /// case-insensitively.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// 10-128 characters, not a common password, not containing the email's local part.
    #[schema(value_type = String, min_length = 10, max_length = 128)]
    pub password: Secret<String>,
    /// 1-100 characters after trimming white space, without control characters.
    #[schema(schema_with = crate::http::openapi::name_schema)]
    pub name: String,
    /// Any JSON object up to 16 KiB, nested at most 32 levels of objects and arrays.
    #[schema(schema_with = crate::http::openapi::new_preferences_schema)]
    pub preferences: Option<serde_json::Value>,
}

/// A mailed token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q4Xh2b0v8oK3s1Jm9tP6dW5rY7uZ2cE4fG8hL0nQ1aB"}))]
pub struct TokenRequest {
    #[schema(value_type = String)]
    pub token: Secret<String>,
}

/// An email address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct EmailRequest {
    /// An email address (ASCII); white space around it is trimmed, and it is compared
    /// case-insensitively.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    /// An email address (ASCII); white space around it is trimmed, and it is compared
    /// case-insensitively.
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(value_type = String, max_length = 1024)]
    pub password: Secret<String>,
}

/// The second step of a sign-in: the `mfa_token` of the `mfa_required` answer and either
/// a code of the authenticator app or a recovery code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({"mfa_token": "Xp3v9QkR7tLm2sWc8yHn4bJd6fGa1eZu0iOq5rTs7vU", "code": "492039"}))]
pub enum LoginMfaRequest {
    Code(MfaCodeAnswer),
    RecoveryCode(MfaRecoveryAnswer),
}

/// The challenge answered with a code of the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCodeAnswer {
    /// From the `mfa_required` problem.
    #[schema(value_type = String, max_length = 64)]
    pub mfa_token: Secret<String>,
    /// The 6-digit code (an unused recovery code is accepted here too).
    #[schema(value_type = String, max_length = 64)]
    pub code: Secret<String>,
}

/// The challenge answered with a recovery code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaRecoveryAnswer {
    /// From the `mfa_required` problem.
    #[schema(value_type = String, max_length = 64)]
    pub mfa_token: Secret<String>,
    /// An unused recovery code, `xxxxx-xxxxx`.
    #[schema(value_type = String, max_length = 64)]
    pub recovery_code: Secret<String>,
}

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "q4Xh2b0v8oK3s1Jm9tP6dW5rY7uZ2cE4fG8hL0nQ1aB"}))]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub refresh_token: Secret<String>,
}

/// A reset or invitation token and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q4Xh2b0v8oK3s1Jm9tP6dW5rY7uZ2cE4fG8hL0nQ1aB", "new_password": "another long passphrase"}))]
pub struct ResetPasswordRequest {
    #[schema(value_type = String)]
    pub token: Secret<String>,
    #[schema(value_type = String, min_length = 10, max_length = 128)]
    pub new_password: Secret<String>,
}

/// Creates an account (status `pending_verification`) and mails a verification link.
#[utoipa::path(
    post, path = "/register", tag = "auth",
    security(),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; a verification email is on its way.", body = UserView,
         headers(("Location" = String, description = "URL of the new user")),
         example = json!(ex::pending_user())),
        (status = 409, description = "The address is taken.", body = Problem, content_type = "application/problem+json",
         example = json!(P::EmailTaken.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("password", "too_short", "must be at least 10 characters"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let input = NewAccount {
        email: body.email,
        name: body.name,
        password: Some(body.password),
        preferences: body.preferences,
    };
    let user = accounts::create(state.deps(), Origin::SelfRegistered, input, &meta).await?;
    let location =
        HeaderValue::from_str(&format!("/api/v1/users/{}", user.id)).map_err(ApiError::internal)?;
    let mut response = (StatusCode::CREATED, axum::Json(UserView::from(user))).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Uses a verification token: activates the account or completes an email change.
#[utoipa::path(
    post, path = "/verify-email", tag = "auth",
    security(),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Verified.", body = UserView, example = json!(ex::user())),
        (status = 400, description = "Invalid, used or expired token, or a body that is not JSON.", body = Problem,
         content_type = "application/problem+json",
         examples(
             ("invalid_verification_token" = (value = json!(P::InvalidVerificationToken.example()))),
             ("malformed_request" = (value = json!(P::MalformedJson.example()))),
         )),
        (status = 409, description = "The new address (email change) was taken meanwhile.", body = Problem,
         content_type = "application/problem+json",
         example = json!(P::EmailTaken.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("token", "required", "missing field `token`"))),
        BodyErrors, ServerErrors,
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<TokenRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = verification::verify_email(state.deps(), body.token.expose(), &meta).await?;
    Ok(axum::Json(user.into()))
}

/// Undoes an email change with the link mailed to the old address: the address goes back
/// (verified), every session ends, pending email changes and reset links are retired.
/// Works for 7 days, also after the new address was confirmed or the password changed.
#[utoipa::path(
    post, path = "/revert-email", tag = "auth",
    security(),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The old address is back; every session has ended.", body = UserView,
         example = json!(ex::user())),
        (status = 400, description = "Invalid, used or expired token, or a body that is not JSON.", body = Problem,
         content_type = "application/problem+json",
         examples(
             ("invalid_revert_token" = (value = json!(P::InvalidRevertToken.example()))),
             ("malformed_request" = (value = json!(P::MalformedJson.example()))),
         )),
        (status = 409, description = "Another account has the old address now.", body = Problem,
         content_type = "application/problem+json",
         example = json!(P::EmailTaken.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("token", "required", "missing field `token`"))),
        BodyErrors, ServerErrors,
    )
)]
pub async fn revert_email(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<TokenRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = verification::revert_email(state.deps(), body.token.expose(), &meta).await?;
    Ok(axum::Json(user.into()))
}

/// Mails a new verification link if the address belongs to a pending account. Always 202.
#[utoipa::path(
    post, path = "/resend-verification", tag = "auth",
    security(),
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address exists)."),
        (status = 422, description = "Not an email address.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("email", "invalid_email", "must be a valid email address"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<EmailRequest>,
) -> Result<Response, ApiError> {
    let verdict =
        verification::resend_verification(state.shared_deps(), &body.email, &meta).await?;
    Ok((StatusCode::ACCEPTED, Noted(verdict), ()).into_response())
}

/// Signs in: a new session with an access token and a refresh token.
#[utoipa::path(
    post, path = "/login", tag = "auth",
    security(),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in.", body = TokenPairView, example = json!(ex::token_pair())),
        (status = 401, description = "Wrong email or password (same answer for both); or the right \
                                      password of an account with two-step sign-in, whose `mfa_token` goes to `/auth/login/mfa`.",
         body = Problem, content_type = "application/problem+json",
         examples(
             ("invalid_credentials" = (value = json!(P::InvalidCredentials.example()))),
             ("mfa_required" = (value = json!(P::MfaRequired.example()))),
         )),
        (status = 403, description = "Right password, but the address is unverified or the account deactivated.",
         body = Problem, content_type = "application/problem+json",
         examples(
             ("email_not_verified" = (value = json!(P::EmailNotVerified.example()))),
             ("account_deactivated" = (value = json!(P::AccountDeactivated.example()))),
         )),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("password", "required", "missing field `password`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<axum::Json<TokenPairView>, ApiError> {
    let pair = login::login(state.deps(), &body.email, body.password.expose(), &meta).await?;
    Ok(axum::Json(pair.into()))
}

/// The second step of a sign-in: answers the `mfa_required` challenge with a code of the
/// authenticator app or a recovery code, and opens the session. The `mfa_token` works
/// once, for 5 minutes, and dies after 5 wrong codes.
#[utoipa::path(
    post, path = "/login/mfa", tag = "auth",
    security(),
    request_body = LoginMfaRequest,
    responses(
        (status = 200, description = "Signed in; the access token's `amr` is `[\"pwd\", \"otp\"]`.", body = TokenPairView,
         example = json!(ex::token_pair())),
        (status = 401, description = "A wrong code (`invalid_mfa_code`); or an `mfa_token` that is unknown, used, \
                                      expired or dead after 5 wrong codes, alike (`invalid_token`).",
         body = Problem, content_type = "application/problem+json",
         examples(
             ("invalid_mfa_code" = (value = json!(P::InvalidMfaCode.example()))),
             ("invalid_token" = (value = json!(P::InvalidToken.example()))),
         )),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("mfa_token", "required", "missing field `mfa_token`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn login_mfa(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<LoginMfaRequest>,
) -> Result<axum::Json<TokenPairView>, ApiError> {
    let (token, answer) = match body {
        LoginMfaRequest::Code(a) => (a.mfa_token, Answer::Code(a.code)),
        LoginMfaRequest::RecoveryCode(a) => (a.mfa_token, Answer::RecoveryCode(a.recovery_code)),
    };
    let pair = mfa::answer(state.deps(), token.expose(), &answer, &meta).await?;
    Ok(axum::Json(pair.into()))
}

/// Rotates a refresh token: the old one stops working, a new pair of the same session
/// comes back. Reuse of a rotated token ends the session (except within the grace period).
#[utoipa::path(
    post, path = "/refresh", tag = "auth",
    security(),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New pair.", body = TokenPairView, example = json!(ex::token_pair())),
        (status = 401, description = "Unknown, expired or ended token, or reuse of a rotated one.", body = Problem,
         content_type = "application/problem+json",
         examples(
             ("invalid_token" = (value = json!(P::InvalidToken.example()))),
             ("refresh_token_reused" = (value = json!(P::RefreshTokenReused.example()))),
         )),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("refresh_token", "required", "missing field `refresh_token`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<axum::Json<TokenPairView>, ApiError> {
    let pair = login::refresh(state.deps(), body.refresh_token.expose(), &meta).await?;
    Ok(axum::Json(pair.into()))
}

/// Ends the session of a refresh token. Idempotent; no bearer needed.
#[utoipa::path(
    post, path = "/logout", tag = "auth",
    security(),
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The session is ended (or already was)."),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("refresh_token", "required", "missing field `refresh_token`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    login::logout(state.deps(), body.refresh_token.expose(), &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller; access tokens issued before stop working at once.
#[utoipa::path(
    post, path = "/logout-all", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session is ended."),
        BearerErrors,
        ServerErrors,
    )
)]
pub async fn logout_all(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
) -> Result<StatusCode, ApiError> {
    login::logout_all(state.deps(), &caller, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a password reset link to an active or pending account. Always 202.
#[utoipa::path(
    post, path = "/forgot-password", tag = "auth",
    security(),
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address exists)."),
        (status = 422, description = "Not an email address.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("email", "invalid_email", "must be a valid email address"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<EmailRequest>,
) -> Result<Response, ApiError> {
    let verdict = recovery::forgot_password(state.shared_deps(), &body.email, &meta).await?;
    Ok((StatusCode::ACCEPTED, Noted(verdict), ()).into_response())
}

/// Sets a new password with a reset or invitation token; ends every session.
#[utoipa::path(
    post, path = "/reset-password", tag = "auth",
    security(),
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every session ended."),
        (status = 400, description = "Invalid, used or expired token, or a body that is not JSON.", body = Problem,
         content_type = "application/problem+json",
         examples(
             ("invalid_reset_token" = (value = json!(P::InvalidResetToken.example()))),
             ("malformed_request" = (value = json!(P::MalformedJson.example()))),
         )),
        (status = 422, description = "The new password breaks a rule.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("new_password", "too_common", "is one of the most common passwords"))),
        BodyErrors, ServerErrors,
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AppJson(body): AppJson<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    recovery::reset_password(
        state.deps(),
        body.token.expose(),
        body.new_password.expose(),
        &meta,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
