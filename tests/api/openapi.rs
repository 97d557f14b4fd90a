//! The OpenAPI document: served, printed, committed, and the interactive docs offline.

use gatehouse::http::openapi;

use crate::helpers::{TestApp, repo_file};

#[test]
fn committed_document_matches_the_code() {
    let committed = std::fs::read_to_string(repo_file("docs/openapi.json")).unwrap_or_default();
    let generated = openapi::document_json();
    assert!(
        committed.trim() == generated.trim(),
        "docs/openapi.json is stale: regenerate it with `cargo run -- openapi > docs/openapi.json`"
    );
}

#[tokio::test]
async fn the_service_serves_its_document() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: serde_json::Value = response.json().await.expect("json");
    let expected: serde_json::Value =
        serde_json::from_str(&openapi::document_json()).expect("document is JSON");
    assert_eq!(served, expected);
    assert!(
        served["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1")
    );
    for path in ["/health/live", "/health/ready", "/metrics"] {
        assert!(served["paths"][path].is_object(), "{path} documented");
    }
    assert!(served["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn interactive_docs_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no CDN in the page");

    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        let text = response.text().await.unwrap_or_default();
        assert!(text.len() > 100, "{asset} has content");
        if asset.ends_with("initializer.js") {
            assert!(text.contains("/openapi.json"), "the UI loads our document");
        }
    }
}

#[test]
fn every_operation_documents_the_rate_limit_and_every_response_its_headers() {
    let document: serde_json::Value =
        serde_json::from_str(&openapi::document_json()).expect("document is JSON");
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    assert!(!paths.is_empty());
    for (path, item) in paths {
        for (method, operation) in item.as_object().cloned().unwrap_or_default() {
            assert_eq!(
                operation["responses"]["429"]["$ref"], "#/components/responses/RateLimited",
                "{method} {path}"
            );
            let responses = operation["responses"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (status, response) in responses {
                let response = match response["$ref"].as_str() {
                    Some(name) => {
                        let name = name.trim_start_matches("#/components/responses/");
                        document["components"]["responses"][name].clone()
                    }
                    None => response,
                };
                for header in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                    assert!(
                        response["headers"][header]["schema"]["type"] == "integer",
                        "{method} {path} {status} documents {header}"
                    );
                }
            }
        }
    }
    let rate_limited = &document["components"]["responses"]["RateLimited"];
    assert!(rate_limited["headers"]["Retry-After"].is_object());
}

/// Every problem document shown anywhere in the OpenAPI document (response examples,
/// named examples, schema examples) is exactly one of the service's problem types as it
/// would send it, so an example cannot promise a detail, title or status the service
/// does not send.
#[test]
fn every_documented_problem_is_one_the_service_sends() {
    use gatehouse::http::problems::ProblemType;

    fn problems<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a serde_json::Value>) {
        match value {
            serde_json::Value::Object(map) => {
                let is_problem = map
                    .get("type")
                    .and_then(|t| t.as_str())
                    .is_some_and(|t| t.starts_with("/problems/"));
                if is_problem {
                    found.push(value);
                }
                map.values().for_each(|v| problems(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| problems(v, found)),
            _ => {}
        }
    }

    let document: serde_json::Value =
        serde_json::from_str(&openapi::document_json()).expect("document is JSON");
    let mut found = Vec::new();
    problems(&document, &mut found);
    assert!(
        found.len() > 50,
        "only {} problem examples found",
        found.len()
    );
    let mut kinds = std::collections::HashSet::new();
    for example in found {
        let kind = ProblemType::of_example(example);
        assert!(kind.is_some(), "not a problem the service sends: {example}");
        kinds.extend(kind);
    }
    for kind in [
        ProblemType::MalformedJson,
        ProblemType::RateLimited,
        ProblemType::EmailTaken,
        ProblemType::ValidationFailed,
        ProblemType::DatabaseUnavailable,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} is documented");
    }
}
