//! `GET /api/v1/audit-events`: the whole audit trail, for admins.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit;
use crate::http::auth::AuthUser;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AppQuery;
use crate::http::paging::link_header;
use crate::http::problems::ProblemType as P;
use crate::http::responses::{BearerErrors, ServerErrors};
use crate::http::state::AppState;
use crate::http::views::AuditPage;
use crate::model::audit_query::AuditQuery;

/// Routes of this module, under `/api/v1/audit-events`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// Audit events, newest first, filtered by actor, target, action, outcome and time (admin).
#[utoipa::path(
    get, path = "", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page, with an RFC 8288 `Link` header.", body = AuditPage,
         headers(("Link" = String, description = "Links to the first, previous, next and last pages")),
         example = json!({"items": [], "page": 1, "per_page": 20, "total": 0, "total_pages": 0})),
        BearerErrors,
        (status = 403, description = "Only admins read the whole trail.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        (status = 422, description = "A bad query parameter, named in `errors`.", body = Problem,
         content_type = "application/problem+json", example = json!(P::invalid_field_example("actor_id", "invalid", "UUID parsing failed"))),
        ServerErrors,
    )
)]
pub async fn list_events(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    RawQuery(raw): RawQuery,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let page: AuditPage = audit::all_events(state.deps(), &caller.user, query)
        .await?
        .into();
    let link = link_header(
        "/api/v1/audit-events",
        raw.as_deref(),
        page.page,
        page.total_pages,
    );
    let mut response = axum::Json(page).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}
