//! Facts about the request that caused a change, kept with sessions and audit events.

use std::net::IpAddr;

/// Who asked, from where: the client IP (after trusted proxies), its user agent and the
/// request id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    /// Longest user agent kept.
    pub const MAX_USER_AGENT: usize = 512;

    /// Meta for work not caused by a request (command line, start-up).
    pub fn system() -> Self {
        Self::default()
    }
}
