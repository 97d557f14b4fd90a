//! Error responses shared by many operations, for the OpenAPI document: every JSON body
//! can be malformed (400), too large (413) or of the wrong type (415), and every operation
//! can meet a rate limit (429), an internal error (500) or an unavailable database (503).

use std::collections::BTreeMap;

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::problems::ProblemType;

fn problem_response(description: &str, kind: ProblemType) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .example(Some(kind.example()))
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
            problem_response("The body is not valid JSON.", ProblemType::MalformedJson),
        )])
    }
}

/// 404 for the `/users/{id}` operations: the id names no user.
pub struct NoSuchUser;

impl utoipa::IntoResponses for NoSuchUser {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([(
            "404".to_owned(),
            problem_response("No such user.", ProblemType::NoSuchUser),
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
                    ProblemType::PayloadTooLarge,
                ),
            ),
            (
                "415".to_owned(),
                problem_response("The body is not `application/json`.", ProblemType::NotJson),
            ),
        ])
    }
}

/// 401 for operations that need an access token, with an example of each code.
pub struct BearerErrors;

impl utoipa::IntoResponses for BearerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem")));
        for kind in [
            ProblemType::Unauthenticated,
            ProblemType::InvalidToken,
            ProblemType::TokenExpired,
            ProblemType::TokenRevoked,
        ] {
            let example = utoipa::openapi::example::ExampleBuilder::new()
                .value(Some(kind.example()))
                .build();
            content = content.examples_from_iter([(kind.code(), example)]);
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
                    ProblemType::Internal,
                ),
            ),
            (
                "503".to_owned(),
                problem_response(
                    "The database is unavailable, the request timed out, or the service is shutting down.",
                    ProblemType::DatabaseUnavailable,
                ),
            ),
        ])
    }
}

fn integer_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Object::with_type(Type::Integer))
        .description(Some(description))
        .build()
}

/// The `RateLimit-*` headers that every response carries while rate limits are on,
/// describing the limit closest to running out for that request.
pub fn rate_limit_headers() -> [(&'static str, Header); 3] {
    [
        (
            "RateLimit-Limit",
            integer_header(
                "Requests allowed in the window of the limit closest to running out for this \
                 request (sent while rate limits are on).",
            ),
        ),
        (
            "RateLimit-Remaining",
            integer_header("Requests left in that window."),
        ),
        (
            "RateLimit-Reset",
            integer_header("Seconds until that window is whole again."),
        ),
    ]
}

/// 429, which every route can answer while rate limits are on (the document adds it to
/// every operation as a reference to this response).
pub fn rate_limited() -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .example(Some(ProblemType::RateLimited.example()))
        .build();
    let mut response = ResponseBuilder::new()
        .description(
            "A rate limit ran out (every route is limited per client IP while limits are on, the \
             sign-in and recovery routes more tightly).",
        )
        .header(
            "Retry-After",
            integer_header("Seconds until a retry can succeed."),
        )
        .content("application/problem+json", content)
        .build();
    response.headers.extend(
        rate_limit_headers()
            .into_iter()
            .map(|(name, header)| (name.to_owned(), header)),
    );
    response
}
