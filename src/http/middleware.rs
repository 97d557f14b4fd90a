//! The per-request middleware: request id and span, one log line and the metrics of each
//! request, security headers, CORS, and the guarantee that every error is problem+json.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::error::{ApiError, ErrorCause, PROBLEM_JSON};
use super::problems::ProblemType;
use super::request_id::{self, RequestId};
use crate::http::state::AppState;
use crate::telemetry::{HTTP_DURATION, HTTP_REQUESTS};

/// Outermost middleware: gives the request its id and span, runs it, turns any bare error
/// status into a problem document, sets the common headers, logs and counts it.
pub async fn request_context(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = RequestId::from_headers(request.headers());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = route.as_deref().unwrap_or("unmatched"),
    );

    id.clone()
        .scope(
            async move {
                let response = next.run(request).await;
                let mut response = ensure_problem(response);
                set_common_headers(&state, &mut response, &id);
                log_and_count(&method, route.as_deref(), &response, started);
                response
            }
            .instrument(span),
        )
        .await
}

/// Replaces the plain-text or empty bodies that routing and layers produce on errors.
fn ensure_problem(response: Response) -> Response {
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    // Problem documents pass, and so do the HTML pages, which explain errors to people.
    let keep = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(PROBLEM_JSON.as_bytes())
                || v.as_bytes().starts_with(b"text/html")
        });
    if keep {
        return response;
    }
    // The body is replaced; the headers stay (`Allow` of a 405, the `RateLimit-*` ones).
    let mut replaced = ApiError::from_status(status).into_response();
    let (parts, _) = response.into_parts();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replaced.headers_mut().append(name, value.clone());
        }
    }
    replaced
}

fn set_common_headers(state: &AppState, response: &mut Response, id: &RequestId) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        headers.insert(HeaderName::from_static(request_id::HEADER), value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    // Responses carry personal data and tokens unless a handler says otherwise.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if state.public_url_is_https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

fn log_and_count(method: &Method, route: Option<&str>, response: &Response, started: Instant) {
    let elapsed = started.elapsed();
    let status = response.status();
    let route_label = route.unwrap_or("unmatched").to_owned();
    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route_label),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());

    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if let Some(ErrorCause(cause)) = response.extensions().get::<ErrorCause>() {
        tracing::error!(status = status.as_u16(), latency_ms, error = ?cause, "request failed");
    } else if status.is_server_error() {
        tracing::error!(status = status.as_u16(), latency_ms, "request failed");
    } else {
        tracing::info!(status = status.as_u16(), latency_ms, "request");
    }
}

/// CORS for the configured origins. A preflight from an origin not on the list is refused
/// with 403 rather than answered without headers, so the refusal is visible.
pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let allowed = state.cors_allows(&origin);
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);

    if is_preflight {
        if !allowed {
            return ApiError::new(ProblemType::OriginForbidden).into_response();
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, if-none-match, x-request-id"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }

    let mut response = next.run(request).await;
    if allowed {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "x-request-id, location, link, etag, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset",
            ),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// The request timeout (a bare 503, given its problem body by `request_context`), except
/// for the import, which reads a body of any size and answers when every line is written.
pub async fn timeout(
    State(limit): State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == super::routes::transfer::IMPORT_PATH {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Fallback for unknown routes: 404 `not_found`.
pub async fn not_found() -> ApiError {
    ApiError::new(ProblemType::NotFound)
}
