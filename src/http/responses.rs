//! Error responses shared by many operations, for the OpenAPI document: every JSON body
//! can be malformed (400), too large (413) or of the wrong type (415), and every operation
//! can meet an internal error (500) or an unavailable database (503).

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::examples::problem;

fn problem_response(description: &str, status: u16, code: &str, detail: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .example(Some(problem(status, code, detail)))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content)
        .build()
        .into()
}

/// 400 for a body that is not JSON.
pub struct MalformedBody;

impl utoipa::IntoResponses for MalformedBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([(
            "400".to_owned(),
            problem_response(
                "The body is not valid JSON.",
                400,
                "malformed_request",
                "The body is not valid JSON.",
            ),
        )])
    }
}

/// 413 and 415 for JSON bodies.
pub struct BodyErrors;

impl utoipa::IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "413".to_owned(),
                problem_response(
                    "The body is larger than this endpoint accepts.",
                    413,
                    "payload_too_large",
                    "The request body is larger than this endpoint accepts.",
                ),
            ),
            (
                "415".to_owned(),
                problem_response(
                    "The body is not `application/json`.",
                    415,
                    "unsupported_media_type",
                    "Send the body as JSON with `Content-Type: application/json`.",
                ),
            ),
        ])
    }
}

/// 500 and 503, possible on every operation.
pub struct ServerErrors;

impl utoipa::IntoResponses for ServerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "500".to_owned(),
                problem_response(
                    "An unexpected error; the request id identifies it in the logs.",
                    500,
                    "internal",
                    "Something went wrong on our side; the request id identifies it in our logs.",
                ),
            ),
            (
                "503".to_owned(),
                problem_response(
                    "The database is unavailable, the request timed out, or the service is shutting down.",
                    503,
                    "unavailable",
                    "The database is unavailable; try again shortly.",
                ),
            ),
        ])
    }
}
