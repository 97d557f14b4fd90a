//! Every error the service produces is problem+json, including the router's own.

use axum::Router;
use axum::routing::{get, post};
use gatehouse::app::AppState;
use gatehouse::http::extract::{AppJson, AppQuery};
use serde::Deserialize;

use crate::helpers::{TestApp, problem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Echo {
    name: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Paging {
    page: Option<u32>,
}

async fn echo(AppJson(body): AppJson<Echo>) -> String {
    format!("{} {}", body.name, body.tags.len())
}

async fn paged(AppQuery(query): AppQuery<Paging>) -> String {
    format!("page {}", query.page.unwrap_or(1))
}

async fn boom() -> &'static str {
    panic!("secret panic detail")
}

fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/echo", post(echo))
        .route("/paged", get(paged))
        .route("/boom", get(boom))
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    problem(app.get("/api/v1/nothing-here").await, 404, "not_found").await;
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .delete(app.url("/health/live"))
        .send()
        .await
        .expect("send");
    let allow = response.headers()["allow"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(allow.contains("GET"), "{allow}");
    problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn json_bodies_are_checked_with_problem_answers() {
    let app = TestApp::spawn_routes(probe_routes(), &["--body-limit", "1024"]).await;
    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.client.post(app.url("/echo")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json = Some("application/json");

    let ok = post(r#"{"name":"ada"}"#, json).await.expect("send");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap_or_default(), "ada 0");

    problem(
        post("{not json", json).await.expect("send"),
        400,
        "malformed_request",
    )
    .await;
    problem(
        post(r#"{"name":"ada"}"#, None).await.expect("send"),
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        post(r#"{"name":"ada"}"#, Some("text/plain"))
            .await
            .expect("send"),
        415,
        "unsupported_media_type",
    )
    .await;

    let body = problem(
        post(r#"{"name":"ada","role":"admin"}"#, json)
            .await
            .expect("send"),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "role");
    assert_eq!(body["errors"][0]["code"], "unknown_field");
    let body = problem(
        post(r#"{"name":7}"#, json).await.expect("send"),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");
    let body = problem(
        post(r#"{"tags":[]}"#, json).await.expect("send"),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");
    assert_eq!(body["errors"][0]["code"], "required");
}

#[tokio::test]
async fn oversized_bodies_are_413_problems() {
    let app = TestApp::spawn_routes(probe_routes(), &["--body-limit", "1024"]).await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(4096));
    let response = app
        .client
        .post(app.url("/echo"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    problem(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn bad_query_strings_are_422_naming_the_parameter() {
    let app = TestApp::spawn_routes(probe_routes(), &[]).await;
    assert_eq!(
        app.get("/paged?page=3")
            .await
            .text()
            .await
            .unwrap_or_default(),
        "page 3"
    );
    let body = problem(app.get("/paged?page=three").await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "page");
    let body = problem(app.get("/paged?pgae=3").await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "pgae");
}

#[tokio::test]
async fn panics_become_500_problems_without_details() {
    let app = TestApp::spawn_routes(probe_routes(), &[]).await;
    let body = problem(app.get("/boom").await, 500, "internal").await;
    assert!(!body.to_string().contains("secret panic detail"));
    // The server keeps serving.
    assert_eq!(app.get("/paged").await.status(), 200);
}
