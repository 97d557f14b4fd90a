//! Request ids: echoed when the client sends a sensible one, generated otherwise, and
//! reachable from anywhere inside the request's task (error bodies, audit records).

use std::fmt;
use std::sync::Arc;

use axum::http::HeaderMap;

/// Header carrying the request id both ways.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The client's id when it is 1-64 characters of `[A-Za-z0-9._-]`, else a fresh UUIDv7.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
            .unwrap_or_else(Self::generate)
    }

    /// Accepts a client-supplied id if it is safe to echo and log.
    pub fn parse(value: &str) -> Option<Self> {
        let acceptable = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        acceptable.then(|| Self(Arc::from(value)))
    }

    /// A new time-ordered id.
    pub fn generate() -> Self {
        Self(Arc::from(uuid::Uuid::now_v7().to_string()))
    }

    /// The id of the request being handled by the current task, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `future` with this id as the current one.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptable_ids_are_echoed() {
        for id in ["a", "req-1.2_3", &"x".repeat(64)] {
            assert_eq!(
                RequestId::parse(id).map(|r| r.to_string()),
                Some(id.to_owned())
            );
        }
    }

    #[test]
    fn unacceptable_ids_are_replaced() {
        for id in ["", &"x".repeat(65), "a b", "a\nb", "é", "<script>", "a/b"] {
            assert_eq!(RequestId::parse(id), None, "{id:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, "bad id".parse().unwrap_or_else(|_| unreachable!()));
        let id = RequestId::from_headers(&headers);
        assert_ne!(id.as_str(), "bad id");
        assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
    }

    #[tokio::test]
    async fn the_current_id_is_visible_inside_its_scope_only() {
        assert_eq!(RequestId::current(), None);
        let id = RequestId::generate();
        let seen = id.clone().scope(async { RequestId::current() }).await;
        assert_eq!(seen, Some(id));
    }
}
