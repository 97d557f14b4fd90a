//! Extractors that reject bad input with our problem documents instead of axum's plain
//! text: JSON bodies ([`AppJson`]) and query strings ([`AppQuery`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};
use super::problems::ProblemType;

/// A JSON request body, or a problem: 415 without a JSON content type, 413 over the body
/// limit, 400 `malformed_request` for broken JSON, 422 `validation_failed` naming the field
/// for a well-formed body of the wrong shape (unknown fields included).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(ProblemType::NotJson));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::from_status(rejection.status()))?;
        parse_json(&bytes).map(AppJson)
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Parses a JSON document, telling a broken document (400) from a wrong shape (422).
/// Every request body of the API is a JSON object: an array is refused even where serde
/// would accept it, since serde fills a struct from an array by position (`[null, null]`
/// would be a profile patch clearing the preferences).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = path_text(error.path());
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::validation(vec![field_error(&path, &inner.to_string())])
            }
            _ => ApiError::malformed_json(&inner.to_string()),
        }
    });
    let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    match parsed {
        // A broken document stays a 400, whatever it starts with.
        Err(error) if error.status() == StatusCode::BAD_REQUEST => return Err(error),
        _ if is_array => {
            return Err(ApiError::invalid_field(
                "",
                "invalid",
                "the body must be a JSON object",
            ));
        }
        _ => {}
    }
    let value = parsed?;
    deserializer
        .end()
        .map_err(|_| ApiError::new(ProblemType::TrailingCharacters))?;
    Ok(value)
}

/// A query string, or 422 `validation_failed` naming the parameter at fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(AppQuery)
    }
}

/// A path parameter; one that does not parse (an id that is not a UUID) is a 404, since no
/// resource can live at such an address.
#[derive(Debug, Clone, Copy)]
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| AppPath(value))
            .map_err(|_| ApiError::new(ProblemType::NotFound))
    }
}

/// Deserialises a field that may be present with `null`: absent gives `None`, `null`
/// gives `Some(Value::Null)` (for merge patches, where null means "remove").
pub fn present<'de, D>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// Parses a URL query string into `T`.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = path_text(error.path());
        ApiError::validation(vec![field_error(&path, &error.into_inner().to_string())])
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A path as `field_error` takes it: empty at the top level. (The path's own rendering of
/// the top level, `.`, is also that of a key named `.`.)
fn path_text(path: &serde_path_to_error::Path) -> String {
    if path.iter().len() == 0 {
        String::new()
    } else {
        path.to_string()
    }
}

/// Turns serde's message into a field error. A missing field is reported against its
/// parent, so its own name is taken from the message.
fn field_error(parent: &str, message: &str) -> FieldError {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    let named = backticked(&message);
    let join = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    // serde_path_to_error already ends the path with an unknown field's own name.
    let (field, code) = if message.starts_with("unknown field") {
        (parent.to_owned(), "unknown_field")
    } else if message.starts_with("missing field") {
        (
            named.map(join).unwrap_or_else(|| parent.to_owned()),
            "required",
        )
    } else if message.starts_with("duplicate field") {
        // Reported against the object holding it, like a missing field.
        (
            named.map(join).unwrap_or_else(|| parent.to_owned()),
            "duplicate_field",
        )
    } else {
        (parent.to_owned(), "invalid")
    };
    FieldError {
        field,
        code: code.to_owned(),
        message,
    }
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        age: u8,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        flag: bool,
    }

    async fn extract(content_type: Option<&str>, body: &str) -> Result<Signup, ApiError> {
        let mut builder = Request::builder().method("POST").uri("/");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let request = builder
            .body(Body::from(body.to_owned()))
            .map_err(|_| ApiError::new(ProblemType::BadRequest))?;
        AppJson::<Signup>::from_request(request, &())
            .await
            .map(|j| j.0)
    }

    #[tokio::test]
    async fn accepts_json_with_charset() {
        let result = extract(
            Some("application/json; charset=utf-8"),
            r#"{"email":"a@b.c","age":3}"#,
        )
        .await;
        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn missing_content_type_is_415() {
        let error = extract(None, r#"{"email":"a@b.c","age":3}"#).await.err();
        assert_eq!(error.map(|e| e.code()), Some("unsupported_media_type"));
        let error = extract(Some("text/plain"), "{}").await.err();
        assert_eq!(
            error.map(|e| e.status()),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
    }

    #[tokio::test]
    async fn broken_json_is_400() {
        for body in ["{", "not json", "", r#"{"email":"a@b.c","age":3} x"#] {
            let error = extract(Some("application/json"), body).await.err();
            assert_eq!(
                error.map(|e| e.code()),
                Some("malformed_request"),
                "{body:?}"
            );
        }
    }

    #[tokio::test]
    async fn arrays_are_not_objects() {
        // serde would fill the struct by position from these.
        for body in [r#"["a@b.c", 3]"#, r#" ["a@b.c", 3, null]"#, "[]"] {
            let error = extract(Some("application/json"), body).await.err();
            assert_eq!(
                error.as_ref().map(|e| e.code()),
                Some("validation_failed"),
                "{body}"
            );
            let errors = error.map(|e| e.field_errors().to_vec()).unwrap_or_default();
            assert_eq!(
                errors[0].message, "the body must be a JSON object",
                "{body}"
            );
        }
        let error = extract(Some("application/json"), r#"["a@b.c", 3"#)
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some("malformed_request"));
    }

    #[tokio::test]
    async fn wrong_shapes_are_422_naming_the_field() {
        let cases = [
            (r#"{"email":"a@b.c","age":300}"#, "age", "invalid"),
            (r#"{"email":"a@b.c"}"#, "age", "required"),
            (
                r#"{"email":"a@b.c","age":1,"role":"admin"}"#,
                "role",
                "unknown_field",
            ),
            (
                r#"{"email":"a@b.c","age":1,"nested":{"flag":"yes"}}"#,
                "nested.flag",
                "invalid",
            ),
            (
                r#"{"email":"a@b.c","age":1,"nested":{"flag":true,"x":1}}"#,
                "nested.x",
                "unknown_field",
            ),
            (
                r#"{"email":"a@b.c","age":1,"email":"x@y.z"}"#,
                "email",
                "duplicate_field",
            ),
            (
                r#"{"email":"a@b.c","age":1,"nested":{"flag":true,"flag":false}}"#,
                "nested.flag",
                "duplicate_field",
            ),
        ];
        for (body, field, code) in cases {
            let error = extract(Some("application/json"), body).await.err();
            let errors = error
                .as_ref()
                .map(|e| e.field_errors().to_vec())
                .unwrap_or_default();
            assert_eq!(error.map(|e| e.code()), Some("validation_failed"), "{body}");
            assert_eq!(errors[0].field, field, "{body}");
            assert_eq!(errors[0].code, code, "{body}");
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Paging {
        page: Option<u32>,
        role: Option<String>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert!(parse_query::<Paging>("page=2&role=admin").is_ok());
        let error = parse_query::<Paging>("page=two").err();
        let errors = error.map(|e| e.field_errors().to_vec()).unwrap_or_default();
        assert_eq!(errors[0].field, "page");
        let error = parse_query::<Paging>("role=user&role=admin").err();
        let errors = error.map(|e| e.field_errors().to_vec()).unwrap_or_default();
        assert_eq!(errors[0].field, "role");
        assert_eq!(errors[0].code, "duplicate_field");
        let error = parse_query::<Paging>("bogus=1").err();
        let errors = error.map(|e| e.field_errors().to_vec()).unwrap_or_default();
        assert_eq!(errors[0].field, "bogus");
        assert_eq!(errors[0].code, "unknown_field");
        let error = parse_query::<Paging>("page=1&page=2").err();
        let errors = error.map(|e| e.field_errors().to_vec()).unwrap_or_default();
        assert_eq!(errors[0].field, "page", "a repeated parameter is named");
        let error = parse_query::<Paging>(".=1").err();
        let errors = error.map(|e| e.field_errors().to_vec()).unwrap_or_default();
        assert_eq!(errors[0].field, ".", "a parameter named `.` is named");
    }
}
