//! `/api/v1/users/import` and `/api/v1/users/export` (admin): users moved in and out as
//! NDJSON, one user a line, streamed both ways.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::AuthUser;
use crate::http::client::ClientMeta;
use crate::http::error::{ApiError, FieldError, Problem};
use crate::http::examples as ex;
use crate::http::extract::AppQuery;
use crate::http::problems::ProblemType as P;
use crate::http::responses::{BearerErrors, ServerErrors};
use crate::http::state::AppState;
use crate::model::{Role, Status};
use crate::users::transfer::{self, ImportOptions, ImportReport, Operator};

/// The path of the import, which may run longer than the request timeout.
pub const IMPORT_PATH: &str = "/api/v1/users/import";

/// Routes of this module, under `/api/v1/users`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_users))
        .routes(routes!(export_users))
}

/// One user, one line of NDJSON: the import format, and the export's. (Documentation
/// only: `model::transfer` reads and writes the lines.)
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(example = json!(ex::import_line()))]
pub struct UserLine {
    /// An email address (ASCII). An address that already exists is skipped.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// 1-100 characters after trimming white space, without control characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Default `user`.
    #[schema(required = false)]
    pub role: Role,
    /// Default `active`, or `pending_verification` when `email_verified` is false.
    #[schema(required = false)]
    pub status: Status,
    /// Default true: the source system checked the address.
    pub email_verified: Option<bool>,
    /// The hash from the source system, verified at the first login in its own format and
    /// then replaced by Argon2id: PHC `$argon2id$`, `$argon2i$`, `$argon2d$`, `$scrypt$`,
    /// `$pbkdf2-sha256$`, `$pbkdf2-sha512$` (passlib); bcrypt `$2a$`, `$2b$`, `$2y$`;
    /// Django `pbkdf2_sha256$…`, `pbkdf2_sha1$…`, `argon2$…`, `bcrypt_sha256$…`. Exported only
    /// with `include_password_hashes=true`.
    pub password_hash: Option<String>,
    /// Any JSON object, at most 16 KiB (default `{}`).
    #[schema(schema_with = crate::http::openapi::preferences_schema)]
    pub preferences: Option<serde_json::Value>,
    /// When the account was made in the source system (default: now).
    pub created_at: Option<DateTime<Utc>>,
    /// The source system's identifier, 1-200 characters, unique; kept and returned in the
    /// user resource, and a listing filter.
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: Option<String>,
    /// Import only: mail the invitation link (choose a password, valid 7 days), as
    /// `POST /users` does. Default false.
    pub send_invitation: Option<bool>,
}

/// Query parameters of the import.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check every line and count what would happen, writing nothing (default false).
    pub dry_run: Option<bool>,
}

/// Query parameters of the export.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Include each user's stored password hash (default false).
    pub include_password_hashes: Option<bool>,
}

/// A line that failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportLineError {
    /// Line number, from 1.
    pub line: u64,
    /// The line's address, when it had one as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Each problem, with its field (`line` for the line as a whole: not JSON, too long).
    pub errors: Vec<FieldError>,
}

/// What the import did (with `dry_run`, what it would do).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!(ex::import_report()))]
pub struct ImportReportView {
    pub created: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The first 1000 failed lines.
    pub errors: Vec<ImportLineError>,
}

impl From<ImportReport> for ImportReportView {
    fn from(report: ImportReport) -> Self {
        Self {
            created: report.created,
            skipped: report.skipped,
            failed: report.failed,
            errors: report
                .errors
                .into_iter()
                .map(|line| ImportLineError {
                    line: line.line,
                    email: line.email,
                    errors: line
                        .problems
                        .into_iter()
                        .map(|(field, invalid)| FieldError {
                            field,
                            code: invalid.code.to_owned(),
                            message: invalid.message,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Imports users (admin) from NDJSON, one user a line, streamed: any size, memory stays
/// flat. Invalid lines are reported with their number and the rest goes on.
#[utoipa::path(
    post, path = "/import", tag = "users", security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = UserLine, content_type = "application/x-ndjson",
        description = "One user per line (`\\n` or `\\r\\n`), each line a JSON object of at most 64 KiB; blank lines are ignored. Unknown or repeated fields fail their line."),
    responses(
        (status = 200, description = "The counts, and the first 1000 failed lines.", body = ImportReportView),
        BearerErrors,
        (status = 403, description = "Only admins import users.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        (status = 415, description = "The body is not NDJSON.", body = Problem, content_type = "application/problem+json",
         example = json!(P::NotNdjson.example())),
        (status = 422, description = "A bad query parameter.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("dry_run", "invalid", "provided string was not `true` or `false`"))),
        ServerErrors,
    )
)]
pub async fn import_users(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppQuery(query): AppQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<ImportReportView>, ApiError> {
    let operator = Operator::Admin(&caller.user);
    operator.authorize()?;
    if !is_ndjson(&headers) {
        return Err(P::NotNdjson.into());
    }
    let input =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let options = ImportOptions {
        dry_run: query.dry_run.unwrap_or(false),
    };
    let report = transfer::import(state.deps(), operator, input, options, &meta, |_| {}).await?;
    Ok(axum::Json(report.into()))
}

/// Exports every user (admin), deactivated ones too, oldest first, as NDJSON in the
/// import format, streamed.
#[utoipa::path(
    get, path = "/export", tag = "users", security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "One user per line, in the import format.", body = UserLine, content_type = "application/x-ndjson"),
        BearerErrors,
        (status = 403, description = "Only admins export users.", body = Problem, content_type = "application/problem+json",
         example = json!(P::Forbidden.example())),
        (status = 422, description = "A bad query parameter.", body = Problem, content_type = "application/problem+json",
         example = json!(P::invalid_field_example("include_password_hashes", "invalid", "provided string was not `true` or `false`"))),
        ServerErrors,
    )
)]
pub async fn export_users(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(caller): AuthUser,
    AppQuery(query): AppQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let chunks = transfer::export(
        state.deps(),
        Operator::Admin(&caller.user),
        query.include_password_hashes.unwrap_or(false),
        &meta,
    )
    .await?;
    let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/x-ndjson" || essence == "application/ndjson")
}
