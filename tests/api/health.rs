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

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_show_the_pool() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.get("/health/live").await;
    }
    app.get("/no/such/route").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    // The recorder is shared by every test in this process: check presence, not totals.
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health/live",status="200"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains("db_pool_connections"), "{text}");
    assert!(text.contains("db_pool_max_connections"), "{text}");
    assert!(text.contains("db_reserved_idle_connections"), "{text}");
}
