//! Who is calling: the client IP (the peer, or from `X-Forwarded-For` when the peer is a
//! trusted proxy), the user agent and the request id, as a [`RequestMeta`] extractor.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use ipnet::IpNet;

use super::request_id::RequestId;
use crate::app::AppState;
use crate::request::RequestMeta;

/// The caller's request facts, for sessions and audit events.
#[derive(Debug, Clone)]
pub struct ClientMeta(pub RequestMeta);

impl FromRequestParts<AppState> for ClientMeta {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let trusted = &state.settings().config.trusted_proxies;
        let ip = peer.map(|peer| client_ip(peer, &parts.headers, trusted));
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(RequestMeta::MAX_USER_AGENT).collect());
        Ok(Self(RequestMeta {
            ip,
            user_agent,
            request_id: RequestId::current().map(|id| id.to_string()),
        }))
    }
}

/// The client address: the peer, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Entries left of it were
/// written by the client and can be forged, so they are never believed.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        let Some(ip) = parse_forwarded_ip(entry) else {
            // A garbled hop: stop at the last address we could trust.
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(value: &str) -> IpAddr {
        value.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn headers(xff: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in xff {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    fn nets(values: &[&str]) -> Vec<IpNet> {
        values.iter().filter_map(|v| v.parse().ok()).collect()
    }

    #[test]
    fn untrusted_peers_cannot_spoof_their_address() {
        let got = client_ip(
            ip("203.0.113.9"),
            &headers(&["1.2.3.4"]),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = client_ip(
            ip("10.0.0.2"),
            &headers(&["6.6.6.6, 198.51.100.7, 10.0.0.5"]),
            &trusted,
        );
        assert_eq!(got, ip("198.51.100.7"), "the forged 6.6.6.6 is ignored");
        let got = client_ip(
            ip("10.0.0.2"),
            &headers(&["6.6.6.6", "198.51.100.7"]),
            &trusted,
        );
        assert_eq!(got, ip("198.51.100.7"), "several headers read as one list");
    }

    #[test]
    fn garbage_and_missing_headers_fall_back_safely() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&[]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["nonsense"]), &trusted),
            ip("10.0.0.2")
        );
        let got = client_ip(
            ip("10.0.0.2"),
            &headers(&["198.51.100.7, garbage, 10.0.0.3"]),
            &trusted,
        );
        assert_eq!(got, ip("10.0.0.3"));
        let got = client_ip(ip("10.0.0.2"), &headers(&["[2001:db8::1]:443"]), &trusted);
        assert_eq!(got, ip("2001:db8::1"));
    }
}
