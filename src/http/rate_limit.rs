//! The rate-limit middleware: charges each request to its buckets (client IP, route, email
//! address), applies the failed-login slowdown, answers 429 `rate_limited` with
//! `Retry-After`, and puts `RateLimit-*` headers on every response while limits are on.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client::client_ip;
use super::error::ApiError;
use super::problems::ProblemType;
use super::request_id::RequestId;
use crate::db::audit;
use crate::http::state::AppState;
use crate::model::{Action, Email, Event};
use crate::rate_limit::Verdict;
use crate::rate_limit::policy::{Limits, Route};
use crate::request::RequestMeta;

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The middleware.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let deps = state.deps();
    let limiter = &deps.limiter;
    if !limiter.enabled() {
        return next.run(request).await;
    }
    let route = Route::of(
        request.method().as_str(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let Some(peer) = peer else {
        return next.run(request).await;
    };
    let ip = client_ip(
        peer,
        request.headers(),
        &deps.settings.server.trusted_proxies,
    );

    // The routes limited per email address read it from the body, then pass the body on.
    let (request, email_index) = if route.reads_email() {
        match email_of(request, deps.settings.server.body_limit).await {
            Ok(pair) => pair,
            Err(response) => return response,
        }
    } else {
        (request, None)
    };
    // Keys hold the blind index, never the address itself.
    let email_index = email_index.map(|normalised| hex(&deps.blind_index.compute(&normalised)));
    // Kept cheaply (a reference-counted header value) for the refusal's audit record.
    let user_agent = request.headers().get(header::USER_AGENT).cloned();
    let meta = || RequestMeta {
        ip: Some(ip),
        user_agent: user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(RequestMeta::MAX_USER_AGENT).collect()),
        request_id: RequestId::current().map(|id| id.to_string()),
    };

    let slowdown_key = match (route, &email_index) {
        (Route::Login, Some(index)) => Some(Limits::slowdown_key(index, ip)),
        _ => None,
    };
    if let Some(key) = &slowdown_key
        && let Some(wait) = limiter.login_blocked(key).await
    {
        record_refusal(&state, key, &meta(), "login_slowdown").await;
        let verdict = Verdict {
            allowed: false,
            limit: limiter.limits().login.count,
            remaining: 0,
            reset_secs: wait,
            retry_after_secs: wait,
        };
        return refusal(&verdict);
    }

    let buckets = limiter.limits().buckets(route, ip, email_index.as_deref());
    let verdict = limiter.check(&buckets).await;
    if !verdict.allowed {
        if route != Route::Other || request.uri().path().starts_with("/api/v1/auth/") {
            let bucket = buckets.last().map(|(key, _)| key.as_str()).unwrap_or("ip");
            record_refusal(&state, bucket, &meta(), "rate_limit").await;
        }
        return refusal(&verdict);
    }

    let mut response = next.run(request).await;
    if let Some(key) = &slowdown_key {
        match response.status() {
            StatusCode::UNAUTHORIZED => limiter.login_failed(key).await,
            // The password was right (200, or 403 for an unverified or deactivated account).
            StatusCode::OK | StatusCode::FORBIDDEN => limiter.login_succeeded(key).await,
            _ => {}
        }
    }
    set_headers(response.headers_mut(), &verdict);
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Buffers the (small, JSON) body to read its `email`, returning the normalised address and
/// the request with its body restored. A body that is not JSON or has no valid address is
/// passed on untouched: the handler answers it.
async fn email_of(request: Request, limit: usize) -> Result<(Request, Option<String>), Response> {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Err(ApiError::new(ProblemType::PayloadTooLarge).into_response());
    };
    #[derive(serde::Deserialize)]
    struct WithEmail {
        email: String,
    }
    let index = serde_json::from_slice::<WithEmail>(&bytes)
        .ok()
        .and_then(|body| Email::parse(&body.email).ok())
        .map(|email| email.normalised());
    let request = Request::from_parts(parts, Body::from(bytes));
    Ok((request, index))
}

/// Writes the `auth.rate_limited` audit event, at most once a minute per bucket, so that a
/// flood of refusals does not become a flood of inserts. A failed write is logged only:
/// the refusal stands either way.
async fn record_refusal(state: &AppState, bucket: &str, meta: &RequestMeta, reason: &str) {
    let deps = state.deps();
    if !deps.limiter.first_in_a_while(bucket) {
        return;
    }
    let event = Event::failure(Action::AuthRateLimited, None, None, meta)
        .with_details(serde_json::json!({"limit": reason}));
    if let Err(error) = audit::insert(&deps.db, &event).await {
        tracing::warn!(%error, "could not record a rate-limit refusal");
    }
}

fn refusal(verdict: &Verdict) -> Response {
    let mut response = ApiError::new(ProblemType::RateLimited)
        .with_retry_after(verdict.retry_after_secs)
        .into_response();
    set_headers(response.headers_mut(), verdict);
    response
}

fn set_headers(headers: &mut HeaderMap, verdict: &Verdict) {
    headers.insert(LIMIT, HeaderValue::from(verdict.limit));
    headers.insert(REMAINING, HeaderValue::from(verdict.remaining));
    headers.insert(RESET, HeaderValue::from(verdict.reset_secs));
}
