//! Error responses shared by many operations, for the OpenAPI document: every JSON body
//! can be malformed (400), too large (413) or of the wrong type (415), and every operation
//! can meet a rate limit (429), an internal error (500) or an unavailable database (503).

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{Object, Type};
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

/// 404 for the `/users/{id}` operations: the id names no user.
pub struct NoSuchUser;

impl utoipa::IntoResponses for NoSuchUser {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([(
            "404".to_owned(),
            problem_response("No such user.", 404, "not_found", "There is no such user."),
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

/// 401 for operations that need an access token, with an example of each code.
pub struct BearerErrors;

impl utoipa::IntoResponses for BearerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem")));
        for (code, detail) in [
            (
                "unauthenticated",
                "Send an access token: `Authorization: Bearer <token>`.",
            ),
            ("invalid_token", "The token is not valid."),
            ("token_expired", "The access token has expired; refresh it."),
            (
                "token_revoked",
                "The session of this token has ended; sign in again.",
            ),
        ] {
            let example = utoipa::openapi::example::ExampleBuilder::new()
                .value(Some(problem(401, code, detail)))
                .build();
            content = content.examples_from_iter([(code, example)]);
        }
        BTreeMap::from([(
            "401".to_owned(),
            ResponseBuilder::new()
                .description("Missing, invalid, expired or revoked access token (the session ended or the user was deactivated).")
                .content("application/problem+json", content.build())
                .build()
                .into(),
        )])
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

/// 429, which every route can answer while rate limits are on (the document adds it to
/// every operation as a reference to this response).
pub fn rate_limited() -> Response {
    let seconds = |description: &str| {
        HeaderBuilder::new()
            .schema(Object::with_type(Type::Integer))
            .description(Some(description))
            .build()
    };
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .example(Some(problem(
            429,
            "rate_limited",
            "Too many requests; try again in 12 seconds.",
        )))
        .build();
    ResponseBuilder::new()
        .description(
            "A rate limit ran out (every route is limited per client IP while limits are on, the \
             sign-in and recovery routes more tightly).",
        )
        .header("Retry-After", seconds("Seconds until a retry can succeed."))
        .header(
            "RateLimit-Limit",
            seconds("Requests allowed in the window of the limit closest to running out."),
        )
        .header(
            "RateLimit-Remaining",
            seconds("Requests left in that window."),
        )
        .header(
            "RateLimit-Reset",
            seconds("Seconds until that window resets."),
        )
        .content("application/problem+json", content)
        .build()
}
