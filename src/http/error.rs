//! The one error type of the HTTP layer: every failure becomes an RFC 9457 problem
//! document with a stable `code`, the request id, and field errors where they apply.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::problems::ProblemType;
use super::request_id::RequestId;
use crate::rate_limit::Verdict;
use crate::validation::FieldProblems;

/// Media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error as the client will see it. The cause of a 5xx is kept for the log only.
#[derive(Debug)]
pub struct ApiError {
    kind: ProblemType,
    /// The kind's status, except for a bare status the list has no entry for.
    status: StatusCode,
    detail: Cow<'static, str>,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    /// The limit that refused the request, for the `RateLimit-*` headers.
    limit: Option<Verdict>,
    /// The members of an `mfa_required` problem.
    mfa: Option<Box<MfaMembers>>,
    cause: Option<anyhow::Error>,
}

/// What an `mfa_required` problem adds: the challenge to answer and how.
struct MfaMembers {
    token: String,
    methods: Vec<String>,
}

impl std::fmt::Debug for MfaMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaMembers")
            .field("token", &"[redacted]")
            .field("methods", &self.methods)
            .finish()
    }
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
#[schema(example = json!(ProblemType::invalid_field_example(
    "password",
    "too_short",
    "must be at least 10 characters"
)))]
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
    /// Only in `mfa_required`: the opaque token of the second step (single use, 5 minutes),
    /// for `POST /api/v1/auth/login/mfa`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// Only in `mfa_required`: the second steps the account accepts (`totp`,
    /// `recovery_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}

/// The logged cause of a server error, handed to the request log through the response.
#[derive(Clone, Debug)]
pub struct ErrorCause(pub Arc<anyhow::Error>);

impl ApiError {
    /// An error of this problem type, with its detail.
    pub fn new(kind: ProblemType) -> Self {
        Self {
            kind,
            status: kind.status(),
            detail: Cow::Borrowed(kind.detail()),
            errors: Vec::new(),
            retry_after: None,
            limit: None,
            mfa: None,
            cause: None,
        }
    }

    /// 401 `mfa_required` with the challenge's token and methods.
    pub fn mfa_required(challenge: crate::auth::mfa::MfaChallenge) -> Self {
        Self {
            mfa: Some(Box::new(MfaMembers {
                token: challenge.token.expose().clone(),
                methods: challenge.methods.iter().map(|m| (*m).to_owned()).collect(),
            })),
            ..Self::new(ProblemType::MfaRequired)
        }
    }

    /// 429 `rate_limited`, with `Retry-After` and the verdict of the limit that refused.
    pub fn rate_limited(verdict: Verdict) -> Self {
        Self {
            retry_after: Some(verdict.retry_after_secs),
            limit: Some(verdict),
            ..Self::new(ProblemType::RateLimited)
        }
    }

    /// 400 `malformed_request` for a body the JSON parser refused, with its reason.
    pub fn malformed_json(reason: &str) -> Self {
        Self {
            detail: Cow::Owned(ProblemType::malformed_json_detail(reason)),
            ..Self::new(ProblemType::MalformedJson)
        }
    }

    /// 422 `validation_failed` naming each field at fault.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::new(ProblemType::ValidationFailed)
        }
    }

    /// 422 `validation_failed` for field problems found by the domain.
    pub fn invalid(problems: FieldProblems) -> Self {
        Self::validation(
            problems
                .into_iter()
                .map(|(field, invalid)| FieldError {
                    field: field.to_owned(),
                    code: invalid.code.to_owned(),
                    message: invalid.message,
                })
                .collect(),
        )
    }

    /// 422 `validation_failed` for a single field.
    pub fn invalid_field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    /// 500 `internal`, keeping the cause for the log.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(ProblemType::Internal).with_cause(cause)
    }

    /// The problem for a bare status produced outside our handlers (routing, layers).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::new(ProblemType::NotFound),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(ProblemType::MethodNotAllowed),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(ProblemType::PayloadTooLarge),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(ProblemType::UnsupportedMediaType),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                Self::new(ProblemType::TimedOut)
            }
            StatusCode::REQUEST_TIMEOUT => Self::new(ProblemType::RequestTimeout),
            status if status.is_server_error() => {
                Self::internal(anyhow::anyhow!("bare {status} from a layer"))
            }
            // A client error the list does not name keeps its status and says its name.
            status => Self {
                status,
                detail: Cow::Borrowed(status.canonical_reason().unwrap_or("Bad Request")),
                ..Self::new(ProblemType::BadRequest)
            },
        }
    }

    /// Adds a `Retry-After` header, in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Keeps a cause for the log (shown to nobody).
    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// The problem type.
    pub fn kind(&self) -> ProblemType {
        self.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The field errors.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl From<ProblemType> for ApiError {
    fn from(kind: ProblemType) -> Self {
        Self::new(kind)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let problem = Problem {
            kind: self.kind.type_uri(),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail.into_owned(),
            code: self.kind.code(),
            request_id: RequestId::current()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            errors: self.errors,
            mfa_token: self.mfa.as_ref().map(|m| m.token.clone()),
            methods: self.mfa.map(|m| m.methods),
        };
        // Serialising these plain fields cannot fail; fall back to a fixed body regardless.
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| {
            br#"{"type":"/problems/internal","title":"Internal Server Error","status":500,"code":"internal"}"#.to_vec()
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(verdict) = self.limit {
            response.extensions_mut().insert(verdict);
        }
        if let Some(cause) = self.cause {
            response
                .extensions_mut()
                .insert(ErrorCause(Arc::new(cause)));
        }
        response
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
        let (_, headers, _) =
            body_of(ApiError::new(ProblemType::RateLimited).with_retry_after(3)).await;
        assert_eq!(headers[header::RETRY_AFTER], "3");
        let (_, headers, _) = body_of(ApiError::new(ProblemType::Unauthenticated)).await;
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
            (StatusCode::LENGTH_REQUIRED, "malformed_request"),
            (StatusCode::IM_A_TEAPOT, "malformed_request"),
        ];
        for (status, code) in cases {
            let error = ApiError::from_status(status);
            assert_eq!(error.code(), code, "{status}");
        }
        assert_eq!(
            ApiError::from_status(StatusCode::GATEWAY_TIMEOUT).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from_status(StatusCode::IM_A_TEAPOT).status(),
            StatusCode::IM_A_TEAPOT,
            "an unnamed client error keeps its status"
        );
    }
}
