//! The rate-limit layers. [`per_ip`] wraps every route: it charges each request (404 and
//! 405 included) to its client IP's bucket, and puts the `RateLimit-*` headers on every
//! response, describing the limit closest to running out among those the request was
//! charged to. [`per_route`] is declared by the routes with limits of their own. The
//! limits that need the body (per address, the failed-login slowdown) are decided by the
//! services, which return their verdicts (see [`crate::auth::throttle`]).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use utoipa_axum::router::OpenApiRouter;

use super::client::client_ip;
use super::error::ApiError;
use super::request_id::RequestId;
use super::state::AppState;
use crate::auth::throttle;
use crate::rate_limit::Verdict;
use crate::rate_limit::policy::RouteLimit;
use crate::request::RequestMeta;

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The client IP of a request (after trusted proxies), resolved once by [`per_ip`].
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// A verdict a service returned, put on the response for [`per_ip`] to report.
#[derive(Debug, Clone, Copy)]
pub struct Noted(pub Option<Verdict>);

impl IntoResponseParts for Noted {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Infallible> {
        if let Some(verdict) = self.0 {
            parts.extensions_mut().insert(verdict);
        }
        Ok(parts)
    }
}

/// What [`per_route`] needs from the outer layer.
#[derive(Clone)]
struct Limiting {
    state: AppState,
    ip: IpAddr,
}

/// The outer layer: resolves the client IP, charges the per-IP bucket, and sets the
/// headers from every verdict the request met.
pub async fn per_ip(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
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
        &state.settings().server.trusted_proxies,
    );
    request.extensions_mut().insert(ClientIp(ip));
    let limiter = &state.deps().limiter;
    if !limiter.enabled() {
        return next.run(request).await;
    }
    let bucket = limiter.limits().per_ip_bucket(ip);
    let verdict = limiter.check(std::slice::from_ref(&bucket)).await;
    if !verdict.allowed {
        // Refusals of the authentication routes are part of the audit trail.
        if request.uri().path().starts_with("/api/v1/auth/") {
            let meta = refusal_meta(&request, ip);
            throttle::record_refusal(state.deps(), &bucket.0, &meta, "rate_limit").await;
        }
        let mut response = ApiError::rate_limited(verdict).into_response();
        set_headers(response.headers_mut(), &verdict);
        return response;
    }
    request.extensions_mut().insert(Limiting {
        state: state.clone(),
        ip,
    });
    let mut response = next.run(request).await;
    let closest = response
        .extensions()
        .get::<Verdict>()
        .map_or(verdict, |inner| verdict.closest(*inner));
    set_headers(response.headers_mut(), &closest);
    response
}

/// A route's own limit per client IP, declared with the route (see [`limited`]).
pub async fn per_route(State(route): State<RouteLimit>, request: Request, next: Next) -> Response {
    let Some(Limiting { state, ip }) = request.extensions().get::<Limiting>().cloned() else {
        return next.run(request).await;
    };
    let limiter = &state.deps().limiter;
    let bucket = limiter.limits().route_bucket(route, ip);
    let verdict = limiter.check(std::slice::from_ref(&bucket)).await;
    if !verdict.allowed {
        let meta = refusal_meta(&request, ip);
        throttle::record_refusal(state.deps(), &bucket.0, &meta, "rate_limit").await;
        return ApiError::rate_limited(verdict).into_response();
    }
    let mut response = next.run(request).await;
    let closest = match response.extensions().get::<Verdict>() {
        Some(inner) => verdict.closest(*inner),
        None => verdict,
    };
    response.extensions_mut().insert(closest);
    response
}

/// `routes` with a limit of their own per client IP, on top of the per-IP limit.
pub fn limited(route: RouteLimit, routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    routes.route_layer(from_fn_with_state(route, per_route))
}

/// The request facts of a refusal's audit record (the handler that would build them never
/// runs).
fn refusal_meta(request: &Request, ip: IpAddr) -> RequestMeta {
    RequestMeta {
        ip: Some(ip),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(RequestMeta::MAX_USER_AGENT).collect()),
        request_id: RequestId::current().map(|id| id.to_string()),
    }
}

fn set_headers(headers: &mut HeaderMap, verdict: &Verdict) {
    headers.insert(LIMIT, HeaderValue::from(verdict.limit));
    headers.insert(REMAINING, HeaderValue::from(verdict.remaining));
    headers.insert(RESET, HeaderValue::from(verdict.reset_secs));
}
