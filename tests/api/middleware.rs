//! Request ids, security headers, CORS, timeouts and graceful shutdown.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use gatehouse::app::AppState;

use crate::helpers::{TestApp, problem};

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "done"
}

fn slow_routes() -> Router<AppState> {
    Router::new().route("/slow", get(slow))
}

#[tokio::test]
async fn acceptable_request_ids_are_echoed() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "client-req.42_a")
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["x-request-id"], "client-req.42_a");

    let response = app
        .client
        .get(app.url("/missing"))
        .header("x-request-id", "trace-7")
        .send()
        .await
        .expect("send");
    let body = problem(response, 404, "not_found").await;
    assert_eq!(body["request_id"], "trace-7");
}

#[tokio::test]
async fn unacceptable_request_ids_are_replaced() {
    let app = TestApp::spawn().await;
    for bad in ["has space", "semi;colon", &"x".repeat(65)] {
        let response = app
            .client
            .get(app.url("/health/live"))
            .header("x-request-id", bad)
            .send()
            .await
            .expect("send");
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }
    let a = app.get("/health/live").await.headers()["x-request-id"].clone();
    let b = app.get("/health/live").await.headers()["x-request-id"].clone();
    assert_ne!(a, b, "each request gets its own id");
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = TestApp::spawn().await;
    for path in ["/health/live", "/missing", "/openapi.json"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
        assert!(!headers.contains_key("strict-transport-security"), "{path}");
    }
}

#[tokio::test]
async fn https_deployments_send_hsts() {
    let app = TestApp::spawn_with(&["--public-url", "https://id.example.com"]).await;
    let response = app.get("/health/live").await;
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap_or_default()
            .starts_with("max-age=")
    );
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let app = TestApp::spawn_with(&[
        "--cors-origins",
        "https://app.example.com,https://admin.example.com",
    ])
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/health/live"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };

    let allowed = preflight("https://admin.example.com").await.expect("send");
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap_or_default()
            .contains("authorization")
    );

    let refused = preflight("https://evil.example.com").await.expect("send");
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    problem(refused, 403, "forbidden").await;

    let simple = app
        .client
        .get(app.url("/health/live"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("send");
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        simple.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap_or_default()
            .contains("x-request-id")
    );

    let foreign = app
        .client
        .get(app.url("/health/live"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .expect("send");
    assert_eq!(foreign.status(), 200);
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn slow_requests_time_out_with_503() {
    let app = TestApp::spawn_routes(slow_routes(), &["--request-timeout", "1"]).await;
    let started = Instant::now();
    let response = app.get("/slow").await;
    assert!(
        started.elapsed() < Duration::from_millis(1450),
        "answered before the handler finished"
    );
    problem(response, 503, "unavailable").await;
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight_and_refuses_new_ones() {
    let mut app = TestApp::spawn_routes(slow_routes(), &[]).await;
    let client = app.client.clone();
    let url = app.url("/slow");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let result = app.shutdown().await;
    assert!(result.is_ok(), "server stops cleanly");
    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap_or_default(), "done");

    let after = reqwest::Client::new()
        .get(app.url("/health/live"))
        .send()
        .await;
    assert!(after.is_err(), "no new connections after shutdown");
}
