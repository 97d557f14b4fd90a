//! `/api/v1/users/me`: the signed-in person's own account.

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit;
use crate::avatars;
use crate::http::auth::AuthUser;
use crate::http::client::ClientMeta;
use crate::http::error::{ApiError, Problem};
use crate::http::examples as ex;
use crate::http::extract::{AppJson, AppPath, AppQuery, present};
use crate::http::openapi::BinaryImage;
use crate::http::problems::ProblemType as P;
use crate::http::rate_limit::Noted;
use crate::http::responses::{BearerErrors, BodyErrors, MalformedBody, ServerErrors};
use crate::http::state::AppState;
use crate::http::views::{AuditPage, SessionList, UserView};
use crate::images::MAX_UPLOAD_BYTES;
use crate::model::audit_query::OwnAuditQuery;
use crate::secret::Secret;
use crate::users::profile::{self, ProfilePatch};
use crate::users::sessions;

/// Routes of this module, under `/api/v1/users/me`.
pub fn router() -> OpenApiRouter<AppState> {
    let avatar = OpenApiRouter::new()
        .routes(routes!(put_avatar, delete_avatar))
        // The upload limit of this route only; the handler refuses a larger declared
        // length before reading anything.
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(change_email))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(audit_events))
        .merge(avatar)
        .merge(super::mfa::router())
        .merge(super::passkeys::me_router())
}

/// A profile change: absent fields stay; `preferences` is a JSON Merge Patch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada King", "preferences": {"theme": "light", "locale": null}}))]
pub struct UpdateProfileRequest {
    /// 1-100 characters after trimming white space, without control characters.
    #[schema(schema_with = crate::http::openapi::optional_name_schema)]
    pub name: Option<String>,
    /// Merge patch (RFC 7396): a `null` value removes a key; `null` as a whole clears them.
    /// The merged preferences must stay within 16 KiB and 32 levels of nesting.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = crate::http::openapi::preferences_patch_schema)]
    pub preferences: Option<serde_json::Value>,
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "another long passphrase"}))]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, max_length = 1024)]
    pub current_password: Secret<String>,
    #[schema(value_type = String, min_length = 10, max_length = 128)]
    pub new_password: Secret<String>,
}

/// An email change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"new_email": "ada.king@example.com", "current_password": "correct horse battery staple"}))]
pub struct ChangeEmailRequest {
    /// An email address (ASCII); white space around it is trimmed, and it is compared
    /// case-insensitively.
    #[schema(format = "email", max_length = 254)]
    pub new_email: String,
    #[schema(value_type = String, max_length = 1024)]
    pub current_password: Secret<String>,
}

/// The password, to confirm a destructive action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple"}))]
pub struct ConfirmPasswordRequest {
    #[schema(value_type = String, max_length = 1024)]
    pub current_password: Secret<String>,
}

/// The signed-in user.
#[utoipa::path(
    get, path = "", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller.", body = UserView, example = json!(ex::user())),
        BearerErrors,
        ServerErrors,
    )
)]
pub async fn get_me(AuthUser(caller): AuthUser) -> axum::Json<UserView> {
    axum::Json(caller.user.into())
}

/// Changes name and preferences (merge patch). `email`, `role` and `status` are refused.
#[utoipa::path(
    patch, path = "", tag = "me", security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "Updated.", body = UserView, example = json!(ex::user())),
        BearerErrors,
        (status = 422, description = "Invalid fields, or a field that cannot be changed here.", body = Problem,
         content_type = "application/problem+json", example = json!(P::invalid_field_example("role", "unknown_field", "unknown field `role`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<UpdateProfileRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    let patch = ProfilePatch {
        name: body.name,
        preferences: body.preferences,
    };
    let user = profile::update(state.deps(), &caller, patch, &meta).await?;
    Ok(axum::Json(user.into()))
}

/// Soft-deletes the caller's account: status `deactivated`, sessions ended, data kept.
#[utoipa::path(
    delete, path = "", tag = "me", security(("bearer" = [])),
    request_body = ConfirmPasswordRequest,
    responses(
        (status = 204, description = "Deactivated."),
        (status = 401, description = "Wrong password, or a bad access token.", body = Problem,
         content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 409, description = "The caller is the only active admin.", body = Problem,
         content_type = "application/problem+json", example = json!(P::LastAdmin.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("current_password", "required", "missing field `current_password`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn delete_me(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<ConfirmPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    profile::delete_me(state.deps(), &caller, body.current_password.expose(), &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; every other session ends.
#[utoipa::path(
    put, path = "/password", tag = "me", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed."),
        (status = 401, description = "Wrong current password, or a bad access token.", body = Problem,
         content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 422, description = "The new password breaks a rule.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("new_password", "too_short", "must be at least 10 characters"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    profile::change_password(
        state.deps(),
        &caller,
        body.current_password.expose(),
        body.new_password.expose(),
        &meta,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts an email change: a confirmation link goes to the new address and a notice to the
/// old one; the address changes once the link's token is posted to `/auth/verify-email`.
#[utoipa::path(
    post, path = "/email", tag = "me", security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Confirmation mailed to the new address, and to the old one a notice with a link that undoes the change."),
        (status = 401, description = "Wrong password (the fifth in a row in this session ends it: `token_revoked`), or a bad access token.", body = Problem,
         content_type = "application/problem+json", example = json!(P::InvalidCredentials.example())),
        (status = 409, description = "The new address is taken.", body = Problem, content_type = "application/problem+json",
         example = json!(P::EmailTaken.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("new_email", "invalid_email", "must be a valid email address"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn change_email(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<ChangeEmailRequest>,
) -> Result<Response, ApiError> {
    let verdict = profile::request_email_change(
        state.deps(),
        &caller,
        &body.new_email,
        body.current_password.expose(),
        &meta,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Noted(verdict), ()).into_response())
}

/// Replaces the caller's avatar: PNG, JPEG or WebP up to 2 MiB, checked by content,
/// re-encoded without metadata and scaled to fit 512x512.
#[utoipa::path(
    put, path = "/avatar", tag = "me", security(("bearer" = [])),
    request_body(content((inline(BinaryImage) = "image/png"), (inline(BinaryImage) = "image/jpeg"), (inline(BinaryImage) = "image/webp")),
        description = "The raw image, at most 2 MiB; its content, not this header, decides the format."),
    responses(
        (status = 200, description = "Stored; `avatar_url` points to it.", body = UserView, example = json!(ex::user())),
        BearerErrors,
        (status = 413, description = "Over 2 MiB, or larger than 10000 pixels a side.", body = Problem,
         content_type = "application/problem+json", example = json!(P::ImageTooLarge.example())),
        (status = 415, description = "Not a PNG, JPEG or WebP image.", body = Problem, content_type = "application/problem+json",
         example = json!(P::NotAnImage.example())),
        ServerErrors,
    )
)]
pub async fn put_avatar(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<UserView>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(
        content_type.as_str(),
        "image/png" | "image/jpeg" | "image/webp"
    ) {
        return Err(P::NotAnImageType.into());
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_UPLOAD_BYTES as u64) {
        return Err(P::UploadTooLarge.into());
    }
    let bytes = axum::body::to_bytes(body, MAX_UPLOAD_BYTES)
        .await
        .map_err(|_| ApiError::new(P::UploadTooLarge))?;
    let user = avatars::set(state.deps(), &caller.user, bytes.to_vec(), &meta).await?;
    Ok(axum::Json(user.into()))
}

/// Removes the caller's avatar.
#[utoipa::path(
    delete, path = "/avatar", tag = "me", security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed (or there was none)."),
        BearerErrors,
        ServerErrors,
    )
)]
pub async fn delete_avatar(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
) -> Result<StatusCode, ApiError> {
    avatars::remove(state.deps(), &caller.user, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's open sessions.
#[utoipa::path(
    get, path = "/sessions", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "Open sessions, newest first.", body = SessionList,
         example = json!({"items": [{"id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d", "created_at": "2026-11-26T12:00:00Z",
             "last_used_at": "2026-11-26T12:30:00Z", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "current": true}]})),
        BearerErrors,
        ServerErrors,
    )
)]
pub async fn sessions(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<axum::Json<SessionList>, ApiError> {
    let items = sessions::list(state.deps(), &caller).await?;
    Ok(axum::Json(SessionList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Ends one of the caller's sessions.
#[utoipa::path(
    delete, path = "/sessions/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended."),
        BearerErrors,
        (status = 404, description = "No open session of the caller has this id.", body = Problem,
         content_type = "application/problem+json", example = json!(P::NotFound.example())),
        ServerErrors,
    )
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    sessions::revoke(state.deps(), &caller, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own security history: events where they are the actor or the target.
#[utoipa::path(
    get, path = "/audit-events", tag = "me", security(("bearer" = [])),
    params(OwnAuditQuery),
    responses(
        (status = 200, description = "Newest first.", body = AuditPage,
         example = json!({"items": [], "page": 1, "per_page": 20, "total": 0, "total_pages": 0})),
        BearerErrors,
        (status = 422, description = "A bad query parameter, named in `errors`.", body = Problem,
         content_type = "application/problem+json", example = json!(P::invalid_field_example("per_page", "out_of_range", "must be between 1 and 100"))),
        ServerErrors,
    )
)]
pub async fn audit_events(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    AppQuery(query): AppQuery<OwnAuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let page = audit::own_events(state.deps(), &caller.user, query).await?;
    Ok(axum::Json(page.into()))
}
