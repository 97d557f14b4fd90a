//! `/api/v1/users`: administration of users, and public avatars.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::avatars;
use crate::http::auth::AuthUser;
use crate::http::client::ClientMeta;
use crate::http::error::{ApiError, Problem};
use crate::http::examples as ex;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::openapi::BinaryImage;
use crate::http::paging::link_header;
use crate::http::problems::ProblemType as P;
use crate::http::responses::{BearerErrors, BodyErrors, MalformedBody, NoSuchUser, ServerErrors};
use crate::http::routes::me::UpdateProfileRequest;
use crate::http::state::AppState;
use crate::http::views::{UserPage, UserView};
use crate::model::Role;
use crate::model::listing::ListQuery;
use crate::secret::Secret;
use crate::users::accounts::{self, NewAccount, Origin};
use crate::users::admin;
use crate::users::profile::ProfilePatch;

/// Routes of this module, under `/api/v1/users`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, deactivate_user))
        .routes(routes!(change_role))
        .routes(routes!(restore_user))
        .routes(routes!(revoke_sessions))
        .routes(routes!(reset_mfa))
        .routes(routes!(avatar))
        .merge(super::transfer::router())
}

/// A user created by an admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "grace@example.com", "name": "Grace Hopper", "role": "manager"}))]
pub struct CreateUserRequest {
    /// An email address (ASCII); white space around it is trimmed, and it is compared
    /// case-insensitively.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// 1-100 characters after trimming white space, without control characters.
    #[schema(schema_with = crate::http::openapi::name_schema)]
    pub name: String,
    pub role: Role,
    /// Without one, an invitation mail lets the person choose it (link valid 7 days).
    #[schema(value_type = Option<String>, min_length = 10, max_length = 128)]
    pub password: Option<Secret<String>>,
    /// Whether the address is known to be the person's (default false).
    #[serde(default)]
    pub email_verified: bool,
}

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "manager"}))]
pub struct RoleRequest {
    pub role: Role,
}

/// Lists users (admin, manager) with filters, sorting and paging; deactivated users only
/// with `status=deactivated`.
#[utoipa::path(
    get, path = "", tag = "users", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "One page, with an RFC 8288 `Link` header (first, prev, next, last).",
         body = UserPage, headers(("Link" = String, description = "Links to the first, previous, next and last pages")),
         example = json!({"items": [ex::user()], "page": 1, "per_page": 20, "total": 1, "total_pages": 1})),
        BearerErrors,
        (status = 403, description = "Plain users may not list users.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        (status = 422, description = "A bad query parameter, named in `errors`.", body = Problem,
         content_type = "application/problem+json", example = json!(P::invalid_field_example("per_page", "out_of_range", "must be between 1 and 100"))),
        ServerErrors,
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    RawQuery(raw): RawQuery,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let page: UserPage = admin::list(state.deps(), &caller.user, query).await?.into();
    let link = link_header("/api/v1/users", raw.as_deref(), page.page, page.total_pages);
    let mut response = axum::Json(page).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// Creates a user (admin).
#[utoipa::path(
    post, path = "", tag = "users", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created; an invitation or verification mail is sent when needed.", body = UserView,
         headers(("Location" = String, description = "URL of the new user")), example = json!(ex::pending_user())),
        BearerErrors,
        (status = 403, description = "Only admins create users.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        (status = 409, description = "The address is taken.", body = Problem, content_type = "application/problem+json",
         example = json!(P::EmailTaken.example())),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("role", "invalid", "unknown variant `root`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppJson(body): AppJson<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let origin = Origin::Admin {
        actor: &caller.user,
        role: body.role,
        email_verified: body.email_verified,
    };
    let input = NewAccount {
        email: body.email,
        name: body.name,
        password: body.password,
        preferences: None,
    };
    let user = accounts::create(state.deps(), origin, input, &meta).await?;
    let location =
        HeaderValue::from_str(&format!("/api/v1/users/{}", user.id)).map_err(ApiError::internal)?;
    let mut response = (StatusCode::CREATED, axum::Json(UserView::from(user))).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Reads a user (admin, manager; a plain user only itself).
#[utoipa::path(
    get, path = "/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user.", body = UserView, example = json!(ex::user())),
        BearerErrors,
        (status = 403, description = "A plain user asking for someone else.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        NoSuchUser,
        ServerErrors,
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<axum::Json<UserView>, ApiError> {
    Ok(axum::Json(
        admin::get(state.deps(), &caller.user, id).await?.into(),
    ))
}

/// Edits name and preferences (admin; manager only for role `user`).
#[utoipa::path(
    patch, path = "/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "Updated.", body = UserView, example = json!(ex::user())),
        BearerErrors,
        (status = 403, description = "Not allowed for this caller and target.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        NoSuchUser,
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("name", "too_long", "must be at most 100 characters"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<UpdateProfileRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    let patch = ProfilePatch {
        name: body.name,
        preferences: body.preferences,
    };
    let user = admin::update(state.deps(), &caller.user, id, patch, &meta).await?;
    Ok(axum::Json(user.into()))
}

/// Soft-deletes a user (admin: anyone but itself, never the last active admin; manager:
/// role `user` only). Data is kept; sessions end.
#[utoipa::path(
    delete, path = "/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deactivated (or already was)."),
        BearerErrors,
        (status = 403, description = "Not allowed for this caller and target (oneself: use `/users/me`).", body = Problem,
         content_type = "application/problem+json", example = json!(P::Forbidden.example())),
        NoSuchUser,
        (status = 409, description = "The last active admin.", body = Problem, content_type = "application/problem+json",
         example = json!(P::LastAdmin.example())),
        ServerErrors,
    )
)]
pub async fn deactivate_user(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    admin::deactivate(state.deps(), &caller.user, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes a user's role (admin; not its own). Never leaves zero active admins.
#[utoipa::path(
    put, path = "/{id}/role", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "Changed.", body = UserView, example = json!(ex::user())),
        BearerErrors,
        (status = 403, description = "Not an admin, or one's own role.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        NoSuchUser,
        (status = 409, description = "Demoting the last active admin.", body = Problem, content_type = "application/problem+json",
         example = json!(P::LastAdmin.example())),
        (status = 422, description = "Not a role.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("role", "invalid", "unknown variant `root`"))),
        MalformedBody, BodyErrors, ServerErrors,
    )
)]
pub async fn change_role(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<RoleRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = admin::change_role(state.deps(), &caller.user, id, body.role, &meta).await?;
    Ok(axum::Json(user.into()))
}

/// Restores a deactivated user (admin): `active`, or `pending_verification` if its address
/// was never verified.
#[utoipa::path(
    post, path = "/{id}/restore", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Restored.", body = UserView, example = json!(ex::user())),
        BearerErrors,
        (status = 403, description = "Only admins restore users.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        NoSuchUser,
        (status = 409, description = "The user is not deactivated.", body = Problem, content_type = "application/problem+json",
         example = json!(P::NotDeactivated.example())),
        ServerErrors,
    )
)]
pub async fn restore_user(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = admin::restore(state.deps(), &caller.user, id, &meta).await?;
    Ok(axum::Json(user.into()))
}

/// Switches a user's two-step sign-in off (admin; a lost phone): TOTP and recovery codes
/// go (passkeys stay), every session of the user ends, and the user is mailed a notice.
#[utoipa::path(
    delete, path = "/{id}/mfa", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Two-step sign-in is off; the user is signed out and told."),
        BearerErrors,
        (status = 403, description = "Only admins reset the second step.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        NoSuchUser,
        (status = 409, description = "Two-step sign-in is not on for this user.", body = Problem,
         content_type = "application/problem+json", example = json!(P::MfaConflict.example())),
        ServerErrors,
    )
)]
pub async fn reset_mfa(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    admin::reset_mfa(state.deps(), &caller.user, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of a user (admin).
#[utoipa::path(
    delete, path = "/{id}/sessions", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Every session ended."),
        BearerErrors,
        (status = 403, description = "Only admins end others' sessions.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        NoSuchUser,
        ServerErrors,
    )
)]
pub async fn revoke_sessions(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    admin::revoke_sessions(state.deps(), &caller.user, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's avatar, public, cacheable and revalidated with its `ETag`.
#[utoipa::path(
    get, path = "/{id}/avatar", tag = "users",
    security(),
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-None-Match" = Option<String>, Header, description = "ETag of a cached copy"),
    ),
    responses(
        (status = 200, description = "The image.", headers(("ETag" = String), ("Cache-Control" = String)),
         content((inline(BinaryImage) = "image/png"), (inline(BinaryImage) = "image/jpeg"), (inline(BinaryImage) = "image/webp"))),
        (status = 304, description = "The cached copy is current."),
        (status = 404, description = "No avatar.", body = Problem, content_type = "application/problem+json",
         example = json!(P::NotFound.example())),
        ServerErrors,
    )
)]
pub async fn avatar(
    State(state): State<AppState>,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let avatar = avatars::get(state.deps(), id).await?;
    let etag = HeaderValue::from_str(&avatar.etag).map_err(ApiError::internal)?;
    let cache = HeaderValue::from_static("public, max-age=60");
    let cached = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == avatar.etag || tag == "*");
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let content_type =
            HeaderValue::from_str(&avatar.content_type).map_err(ApiError::internal)?;
        let mut response = avatar.data.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        response
    };
    response.headers_mut().insert(header::ETAG, etag);
    response.headers_mut().insert(header::CACHE_CONTROL, cache);
    Ok(response)
}
