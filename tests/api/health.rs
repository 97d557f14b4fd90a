use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn live_answers_while_the_process_runs() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_when_the_database_answers_and_is_migrated() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn not_ready_when_a_migration_is_missing() {
    let app = TestApp::spawn().await;
    gatehouse::db::migrate_down(&app.pool, 1)
        .await
        .expect("revert one");
    let body = problem(app.get("/health/ready").await, 503, "unavailable").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("migrations")
    );

    gatehouse::db::migrate_up(&app.pool)
        .await
        .expect("re-apply");
    assert_eq!(app.get("/health/ready").await.status(), 200);
}

#[tokio::test]
async fn not_ready_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.pool.close().await;
    problem(app.get("/health/ready").await, 503, "unavailable").await;
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn not_ready_while_shutting_down() {
    let app = TestApp::spawn().await;
    app.state.begin_shutdown();
    let body = problem(app.get("/health/ready").await, 503, "unavailable").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("shutting down")
    );
}

/// Answers with the status its path names.
async fn status_of_the_path(Path(status): Path<u16>) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The value of the sample `name` with exactly `labels` in a Prometheus text exposition.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<(&str, &str)> = labels.to_vec();
    wanted.sort_unstable();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let mut found: Vec<(&str, &str)> = label_text
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (key, value.trim_matches('"'))
                })
                .collect();
            found.sort_unstable();
            (metric == name && found == wanted).then(|| value.parse().ok())?
        })
}

/// The labels of the request series of `GET route` answered with `status`.
fn get_labels<'a>(route: &'a str, status: &'a str) -> [(&'a str, &'a str); 3] {
    [("method", "GET"), ("route", route), ("status", status)]
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_show_the_pool() {
    // The recorder is global to the test process, so every test's requests land in it.
    // Behind the service's middleware, a route named by a fresh id gives series that only
    // this test produces: their values are exact. The service's own routes are shared
    // with other tests: for them, only growth by at least this test's requests is sure.
    let probe_route = format!(
        "/metrics-probe-{}/{{status}}",
        uuid::Uuid::now_v7().simple()
    );
    let probe = TestApp::spawn_routes(
        Router::new().route(&probe_route, get(status_of_the_path)),
        &[],
    )
    .await;
    let app = TestApp::spawn().await;
    let metrics = || async {
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/plain")
        );
        response.text().await.expect("text")
    };
    let live = get_labels("/health/live", "200");
    let unmatched = get_labels("unmatched", "404");
    let before = metrics().await;

    for status in [200, 200, 200, 418, 418] {
        let path = probe_route.replace("{status}", &status.to_string());
        assert_eq!(probe.get(&path).await.status().as_u16(), status);
    }
    for _ in 0..3 {
        assert_eq!(app.get("/health/live").await.status(), 200);
    }
    let unknown = format!("/no/such/route-{}", uuid::Uuid::now_v7().simple());
    assert_eq!(app.get(&unknown).await.status(), 404);
    let text = metrics().await;

    for (status, expected) in [("200", 3.0), ("418", 2.0)] {
        let labels = get_labels(&probe_route, status);
        assert_eq!(sample(&before, "http_requests_total", &labels), None);
        assert_eq!(
            sample(&text, "http_requests_total", &labels),
            Some(expected),
            "{status}: {text}"
        );
        assert_eq!(
            sample(&text, "http_request_duration_seconds_count", &labels),
            Some(expected),
            "{status}: {text}"
        );
        let mut le_infinity = labels.to_vec();
        le_infinity.push(("le", "+Inf"));
        assert_eq!(
            sample(&text, "http_request_duration_seconds_bucket", &le_infinity),
            Some(expected),
            "{status}: {text}"
        );
    }
    let grown = |labels: &[(&str, &str)]| {
        sample(&text, "http_requests_total", labels).unwrap_or_default()
            - sample(&before, "http_requests_total", labels).unwrap_or_default()
    };
    assert!(grown(&live) >= 3.0, "{text}");
    assert!(grown(&unmatched) >= 1.0, "{text}");
    // An unknown path is counted as "unmatched", never under a label of its own.
    assert!(!text.contains(&unknown), "{text}");

    // The pool gauges are set by the request that renders them.
    assert!(text.contains("db_pool_connections"), "{text}");
    assert!(text.contains("db_pool_max_connections"), "{text}");
    assert!(text.contains("db_reserved_idle_connections"), "{text}");
}
