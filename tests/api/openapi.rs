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
    for path in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/api/v1/auth/revert-email",
    ] {
        assert!(served["paths"][path].is_object(), "{path} documented");
    }
    // The pages of mailed links are HTML, documented as such with both of their methods.
    for page in ["/verify-email", "/reset-password", "/revert-email"] {
        for method in ["get", "post"] {
            let operation = &served["paths"][page][method];
            assert_eq!(operation["tags"][0], "pages", "{method} {page}");
            assert!(
                operation["responses"]["200"]["content"]["text/html"].is_object(),
                "{method} {page} answers HTML"
            );
        }
        let form = &served["paths"][page]["post"]["requestBody"]["content"];
        assert!(
            form["application/x-www-form-urlencoded"].is_object(),
            "{page}"
        );
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

/// What client generators need of the document (scripts/check-clients runs them): no
/// schema that refers to itself, directly or through others (openapi-python-client drops
/// every model that holds one, openapi-typescript emits a circular type); every object
/// schema without properties says `additionalProperties` (otherwise its members are typed
/// as nothing); every operation says who may call it (`security: []` when anyone may).
#[test]
fn client_generators_can_take_the_document() {
    fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(|r| r.as_str())
                    .and_then(|target| target.strip_prefix("#/components/schemas/"))
                {
                    found.push(name.to_owned());
                }
                map.values().for_each(|v| refs(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    fn open_objects_say_so(value: &serde_json::Value, at: &str, bare: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                let is_object = match map.get("type") {
                    Some(serde_json::Value::String(t)) => t == "object",
                    Some(serde_json::Value::Array(types)) => types.iter().any(|t| t == "object"),
                    _ => false,
                };
                if is_object
                    && !map.contains_key("properties")
                    && !map.contains_key("additionalProperties")
                {
                    bare.push(at.to_owned());
                }
                for (key, v) in map {
                    // Examples are values, not schemas.
                    if key != "example" && key != "examples" {
                        open_objects_say_so(v, &format!("{at}/{key}"), bare);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    open_objects_say_so(v, &format!("{at}/{i}"), bare);
                }
            }
            _ => {}
        }
    }

    let document: serde_json::Value =
        serde_json::from_str(&openapi::document_json()).expect("document is JSON");
    let schemas = document["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(schemas.contains_key("UserView"));
    for name in schemas.keys() {
        // Every schema reachable from `name`; `name` among them is a cycle.
        let mut seen = std::collections::BTreeSet::new();
        let mut next = Vec::new();
        refs(&schemas[name], &mut next);
        while let Some(reached) = next.pop() {
            assert_ne!(&reached, name, "schema {name} refers to itself");
            if seen.insert(reached.clone()) {
                refs(&schemas[&reached], &mut next);
            }
        }
    }

    let mut bare = Vec::new();
    open_objects_say_so(&document, "#", &mut bare);
    assert!(
        bare.is_empty(),
        "object schemas without properties or additionalProperties: {bare:?}"
    );

    let mut public = Vec::new();
    for (path, item) in document["paths"].as_object().cloned().unwrap_or_default() {
        for (method, operation) in item.as_object().cloned().unwrap_or_default() {
            let security = operation["security"].as_array();
            assert!(
                security.is_some(),
                "{method} {path} says nothing of security"
            );
            if security.is_some_and(|s| s.is_empty()) {
                public.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        public.contains(&"POST /api/v1/auth/login".to_owned()),
        "{public:?}"
    );
    assert!(
        !public.contains(&"GET /api/v1/users/me".to_owned()),
        "{public:?}"
    );
}

#[test]
fn the_committed_3_0_document_matches_the_code() {
    let committed = std::fs::read_to_string(repo_file("docs/openapi-3.0.json")).unwrap_or_default();
    assert!(
        committed.trim() == openapi::document_3_0_json().trim(),
        "docs/openapi-3.0.json is stale: regenerate it with \
         `cargo run -- openapi --version 3.0 > docs/openapi-3.0.json`"
    );
}

/// The 3.0 document says everything the 3.1 one says: every operation with each of its
/// parameters and response codes, every schema with each of its properties, every
/// security scheme. (A structural comparison: the same API, not the same text.)
#[test]
fn the_3_0_document_has_everything_of_the_3_1_one() {
    use serde_json::Value;
    let v31: Value = serde_json::from_str(&openapi::document_json()).expect("3.1");
    let v30: Value = serde_json::from_str(&openapi::document_3_0_json()).expect("3.0");
    assert_eq!(v30["openapi"], "3.0.3");
    assert!(
        v31["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1")
    );

    let object = |v: &Value| v.as_object().cloned().unwrap_or_default();
    let mut operations = 0;
    for (path, item) in object(&v31["paths"]) {
        for (method, operation) in object(&item) {
            let other = &v30["paths"][&path][&method];
            assert!(other.is_object(), "{method} {path}");
            operations += 1;
            assert_eq!(
                other["operationId"], operation["operationId"],
                "{method} {path}"
            );
            assert_eq!(other["security"], operation["security"], "{method} {path}");
            let names = |op: &Value| {
                op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{} {}", p["in"], p["name"]))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                names(other),
                names(&operation),
                "{method} {path} parameters"
            );
            let codes = |op: &Value| object(&op["responses"]).keys().cloned().collect::<Vec<_>>();
            assert_eq!(codes(other), codes(&operation), "{method} {path} responses");
            for (code, response) in object(&operation["responses"]) {
                let media = |r: &Value| object(&r["content"]).keys().cloned().collect::<Vec<_>>();
                let headers = |r: &Value| object(&r["headers"]).keys().cloned().collect::<Vec<_>>();
                let converted = &other["responses"][&code];
                assert_eq!(media(converted), media(&response), "{method} {path} {code}");
                assert_eq!(
                    headers(converted),
                    headers(&response),
                    "{method} {path} {code}"
                );
            }
            let bodies = |op: &Value| {
                object(&op["requestBody"]["content"])
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(bodies(other), bodies(&operation), "{method} {path} body");
        }
    }
    assert!(operations >= 27, "{operations} operations compared");

    let schemas31 = object(&v31["components"]["schemas"]);
    assert!(!schemas31.is_empty());
    for (name, schema) in schemas31 {
        let converted = &v30["components"]["schemas"][&name];
        assert!(converted.is_object(), "schema {name}");
        let properties = |s: &Value| object(&s["properties"]).keys().cloned().collect::<Vec<_>>();
        assert_eq!(properties(converted), properties(&schema), "schema {name}");
        assert_eq!(converted["required"], schema["required"], "schema {name}");
    }
    for section in ["responses", "securitySchemes"] {
        let keys = |v: &Value| {
            object(&v["components"][section])
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&v30), keys(&v31), "components.{section}");
    }
    // Nothing of 3.1 is left that a 3.0 reader would choke on.
    let text = v30.to_string();
    for only_3_1 in [
        "\"type\":[",
        "\"type\":\"null\"",
        "\"const\":",
        "\"propertyNames\":",
        "\"identifier\":",
        "\"examples\":[",
    ] {
        assert!(
            !text.contains(only_3_1),
            "{only_3_1} left in the 3.0 document"
        );
    }
}

#[tokio::test]
async fn both_documents_are_served_and_the_docs_offer_both() {
    let app = TestApp::spawn().await;
    let served: serde_json::Value = app
        .get("/openapi-3.0.json")
        .await
        .json()
        .await
        .expect("json");
    let expected: serde_json::Value =
        serde_json::from_str(&openapi::document_3_0_json()).expect("3.0");
    assert_eq!(served, expected);
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        initializer.contains("/openapi.json") && initializer.contains("/openapi-3.0.json"),
        "{initializer}"
    );
}
