//! The one error type of the HTTP layer: every failure becomes an RFC 9457 problem
//! document with a stable `code`, the request id, and field errors where they apply.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_id::RequestId;
use crate::auth::AuthError;
use crate::users::error::UserError;

/// Media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error as the client will see it. The cause of a 5xx is kept for the log only.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: Cow<'static, str>,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    cause: Option<anyhow::Error>,
}

/// One invalid field or query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"field": "password", "code": "too_short", "message": "must be at least 10 characters"}))]
pub struct FieldError {
    /// The field (JSON body) or parameter (query string) at fault.
    pub field: String,
    /// Stable snake_case reason.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation_failed",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "The request has invalid fields.",
    "code": "validation_failed",
    "request_id": "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d",
    "errors": [{"field": "password", "code": "too_short", "message": "must be at least 10 characters"}]
}))]
pub struct Problem {
    /// `/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// Stable snake_case code that clients may branch on.
    pub code: &'static str,
    /// The request id, also in the `X-Request-Id` header.
    pub request_id: String,
    /// Field errors, only for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The logged cause of a server error, handed to the request log through the response.
#[derive(Clone, Debug)]
pub struct ErrorCause(pub Arc<anyhow::Error>);

impl ApiError {
    /// An error with the given status, code and public detail.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            cause: None,
        }
    }

    /// 400 `malformed_request`.
    pub fn malformed(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing at this address.",
        )
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This method is not allowed here; see the Allow header.",
        )
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is larger than this endpoint accepts.",
        )
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            detail,
        )
    }

    /// 401 `unauthenticated`: no bearer token.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Send an access token: `Authorization: Bearer <token>`.",
        )
    }

    /// 403 `forbidden`: the caller's role does not allow this.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role does not allow this, or it cannot be done to yourself.",
        )
    }

    /// 422 `validation_failed` naming each field at fault.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The request has invalid fields.",
            )
        }
    }

    /// 422 `validation_failed` for a single field.
    pub fn invalid_field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    /// 503 `unavailable`: a dependency is down or the service is shutting down.
    pub fn unavailable(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 500 `internal`, keeping the cause for the log.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side; the request id identifies it in our logs.",
            )
        }
    }

    /// The problem for a bare status produced outside our handlers (routing, layers).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Self::method_not_allowed(),
            StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::unsupported_media_type("This content type is not accepted here.")
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                Self::unavailable("The service could not answer in time; try again shortly.")
            }
            StatusCode::REQUEST_TIMEOUT => Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "malformed_request",
                "The request was not received in time.",
            ),
            status if status.is_server_error() => {
                Self::internal(anyhow::anyhow!("bare {status} from a layer"))
            }
            status => Self::new(
                status,
                "malformed_request",
                status.canonical_reason().unwrap_or("Bad request"),
            ),
        }
    }

    /// Adds a `Retry-After` header, in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Replaces the public detail.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Keeps a cause for the log (shown to nobody).
    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The field errors.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail.into_owned(),
            code: self.code,
            request_id: RequestId::current()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            errors: self.errors,
        };
        // Serialising these plain fields cannot fail; fall back to a fixed body regardless.
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| {
            br#"{"type":"/problems/internal","title":"Internal Server Error","status":500,"code":"internal"}"#.to_vec()
        });
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(cause) = self.cause {
            response
                .extensions_mut()
                .insert(ErrorCause(Arc::new(cause)));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&error) {
            Self::unavailable("The database is unavailable; try again shortly.").with_cause(error)
        } else {
            Self::internal(error)
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        use StatusCode as S;
        match error {
            AuthError::Invalid(problems) => Self::validation(
                problems
                    .into_iter()
                    .map(|(field, invalid)| FieldError {
                        field: field.to_owned(),
                        code: invalid.code.to_owned(),
                        message: invalid.message,
                    })
                    .collect(),
            ),
            AuthError::EmailTaken => Self::new(
                S::CONFLICT,
                "email_taken",
                "An account with this email address exists.",
            ),
            AuthError::InvalidCredentials => Self::new(
                S::UNAUTHORIZED,
                "invalid_credentials",
                "The email address or password is wrong.",
            ),
            AuthError::EmailNotVerified => Self::new(
                S::FORBIDDEN,
                "email_not_verified",
                "Confirm your email address first; the link was mailed to you.",
            ),
            AuthError::AccountDeactivated => Self::new(
                S::FORBIDDEN,
                "account_deactivated",
                "This account is deactivated.",
            ),
            AuthError::InvalidToken => {
                Self::new(S::UNAUTHORIZED, "invalid_token", "The token is not valid.")
            }
            AuthError::TokenExpired => Self::new(
                S::UNAUTHORIZED,
                "token_expired",
                "The access token has expired; refresh it.",
            ),
            AuthError::TokenRevoked => Self::new(
                S::UNAUTHORIZED,
                "token_revoked",
                "The session of this token has ended; sign in again.",
            ),
            AuthError::RefreshTokenReused => Self::new(
                S::UNAUTHORIZED,
                "refresh_token_reused",
                "This refresh token was already used; the session has been ended for safety.",
            ),
            AuthError::InvalidVerificationToken => Self::new(
                S::BAD_REQUEST,
                "invalid_verification_token",
                "The verification link is invalid, used or expired.",
            ),
            AuthError::InvalidResetToken => Self::new(
                S::BAD_REQUEST,
                "invalid_reset_token",
                "The reset link is invalid, used or expired.",
            ),
            AuthError::Hashing(e) => {
                Self::unavailable("Password checking is unavailable; try again.").with_cause(e)
            }
            AuthError::Database(e) => Self::from(e),
            AuthError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        use StatusCode as S;
        match error {
            UserError::Invalid(problems) => AuthError::Invalid(problems).into(),
            UserError::NotFound => Self::not_found().with_detail("There is no such user."),
            UserError::Forbidden => Self::forbidden(),
            UserError::LastAdmin => Self::new(
                S::CONFLICT,
                "last_admin",
                "This would leave no active admin; make another admin first.",
            ),
            UserError::EmailTaken => AuthError::EmailTaken.into(),
            UserError::InvalidCredentials => AuthError::InvalidCredentials.into(),
            UserError::Conflict(detail) => Self::new(S::CONFLICT, "conflict", detail),
            UserError::UnsupportedMedia(detail) => Self::unsupported_media_type(detail),
            UserError::TooLarge => Self::payload_too_large()
                .with_detail("The image is too large (at most 2 MiB and 10000 pixels a side)."),
            UserError::Auth(error) => error.into(),
            UserError::Database(error) => error.into(),
            UserError::Internal(error) => Self::internal(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(error: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, headers, json)
    }

    #[tokio::test]
    async fn validation_errors_list_their_fields() {
        let (status, headers, json) = body_of(ApiError::invalid_field(
            "per_page",
            "out_of_range",
            "must be 1-100",
        ))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(json["type"], "/problems/validation_failed");
        assert_eq!(json["code"], "validation_failed");
        assert_eq!(json["status"], 422);
        assert_eq!(json["errors"][0]["field"], "per_page");
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let error = ApiError::internal(anyhow::anyhow!("relation \"users\" does not exist"));
        let response = error.into_response();
        assert!(response.extensions().get::<ErrorCause>().is_some());
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("\"code\":\"internal\""));
        assert!(!text.contains("relation"));
        assert!(!text.contains("\"errors\""));
    }

    #[tokio::test]
    async fn retry_after_and_www_authenticate_are_set_where_they_belong() {
        let (_, headers, _) = body_of(ApiError::unavailable("down").with_retry_after(3)).await;
        assert_eq!(headers[header::RETRY_AFTER], "3");
        let (_, headers, _) = body_of(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "no token",
        ))
        .await;
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn bare_statuses_map_to_contract_codes() {
        let cases = [
            (StatusCode::NOT_FOUND, "not_found"),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            (StatusCode::GATEWAY_TIMEOUT, "unavailable"),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            (StatusCode::BAD_REQUEST, "malformed_request"),
        ];
        for (status, code) in cases {
            let error = ApiError::from_status(status);
            assert_eq!(error.code(), code, "{status}");
        }
        assert_eq!(
            ApiError::from_status(StatusCode::GATEWAY_TIMEOUT).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
