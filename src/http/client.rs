//! Who is calling: the client IP (the peer, or from `X-Forwarded-For` when the peer is a
//! trusted proxy), the user agent and the request id, as a [`RequestMeta`] extractor.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use ipnet::IpNet;

use super::rate_limit::ClientIp;
use super::request_id::RequestId;
use crate::http::state::AppState;
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
        // Resolved once by the rate-limit layer; resolved here when it did not run.
        let ip = match parts.extensions.get::<ClientIp>() {
            Some(ClientIp(ip)) => Some(*ip),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| {
                    client_ip(
                        addr.ip(),
                        &parts.headers,
                        &state.settings().server.trusted_proxies,
                    )
                }),
        };
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
/// written by the client and can be forged, so they are never believed. Walking from the
/// right, a garbled entry (non-ASCII bytes included) stops the walk at the last address
/// believed. IPv4-mapped IPv6 addresses (a dual-stack listener's IPv4 peers) count as
/// their IPv4 address, for trust and as the result.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Split the raw bytes: skipping a whole header value that is not ASCII would drop the
    // entries a proxy appended to it and let the client's forged ones left of it through.
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
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

fn parse_forwarded_ip(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
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

    #[test]
    fn non_ascii_entries_are_garbled_hops_not_skipped_headers() {
        let trusted = nets(&["10.0.0.0/8"]);
        let mut forged = headers(&["6.6.6.6"]);
        // The client's own junk, to which a proxy appended the real client address.
        if let Ok(value) = HeaderValue::from_bytes(b"\xff, 198.51.100.7") {
            forged.append("x-forwarded-for", value);
        }
        let got = client_ip(ip("10.0.0.2"), &forged, &trusted);
        assert_eq!(
            got,
            ip("198.51.100.7"),
            "the forged 6.6.6.6 is not believed"
        );
        let mut trailing = headers(&["10.0.0.1"]);
        if let Ok(value) = HeaderValue::from_bytes("é".as_bytes()) {
            trailing.append("x-forwarded-for", value);
        }
        let got = client_ip(ip("10.0.0.2"), &trailing, &trusted);
        assert_eq!(got, ip("10.0.0.2"), "a garbled last hop stops at the peer");
    }

    /// Property-based checks of `client_ip` over arbitrary `X-Forwarded-For` values.
    mod props {
        use super::*;
        use proptest::prelude::*;

        /// 10.0.0.0/8 and fd00::/8.
        fn trusted() -> Vec<IpNet> {
            nets(&["10.0.0.0/8", "fd00::/8"])
        }

        /// Membership in `trusted()`, read off the address itself rather than through
        /// `IpNet`: an IPv4 address whose first octet is 10 (also written IPv4-mapped,
        /// `::ffff:10.x.y.z`: bytes 0-9 zero, 10-11 0xff, 12 = 10), an IPv6 one whose first
        /// byte is 0xfd.
        fn is_trusted(ip: IpAddr) -> bool {
            match ip {
                IpAddr::V4(v4) => v4.octets()[0] == 10,
                IpAddr::V6(v6) => {
                    let o = v6.octets();
                    let mapped = o[..10].iter().all(|b| *b == 0) && o[10] == 0xff && o[11] == 0xff;
                    o[0] == 0xfd || (mapped && o[12] == 10)
                }
            }
        }

        fn trusted_ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::from([10, a, b, c])),
                any::<[u8; 3]>().prop_map(|[a, b, c]| {
                    IpAddr::from(std::net::Ipv4Addr::new(10, a, b, c).to_ipv6_mapped())
                }),
                any::<[u16; 7]>().prop_map(|s| {
                    IpAddr::from([
                        0xfd00 | (s[0] & 0xff),
                        s[1],
                        s[2],
                        s[3],
                        s[4],
                        s[5],
                        s[6],
                        1,
                    ])
                }),
            ]
        }

        fn untrusted_ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(IpAddr::from),
                any::<[u8; 4]>()
                    .prop_map(|o| IpAddr::from(std::net::Ipv4Addr::from(o).to_ipv6_mapped())),
                any::<[u16; 8]>().prop_map(IpAddr::from),
            ]
            .prop_filter("not trusted", |ip| !is_trusted(*ip))
        }

        fn any_ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![trusted_ip(), untrusted_ip()]
        }

        /// How a proxy writes an address: bare, with a port, in capitals, padded.
        fn written(ip: impl Strategy<Value = IpAddr>) -> impl Strategy<Value = Vec<u8>> {
            (ip, any::<u16>(), 0..3u8, "[ \t]{0,2}", "[ \t]{0,2}").prop_map(
                |(ip, port, style, left, right)| {
                    let text = match (style, ip) {
                        (1, IpAddr::V4(v4)) => format!("{v4}:{port}"),
                        (1, IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
                        (2, ip) => ip.to_string().to_uppercase(),
                        (_, ip) => ip.to_string(),
                    };
                    format!("{left}{text}{right}").into_bytes()
                },
            )
        }

        /// Whatever a client may put in one comma-separated entry: addresses, near-misses,
        /// arbitrary bytes (non-UTF-8 included).
        fn entry() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                4 => written(any_ip()),
                1 => any_ip().prop_map(|ip| format!("[{ip}]").into_bytes()),
                1 => "[0-9a-fA-F:.\\[\\] %]{0,20}".prop_map(String::into_bytes),
                1 => "\\PC{0,8}".prop_map(String::into_bytes),
                1 => prop::collection::vec(any::<u8>(), 0..12),
            ]
        }

        /// One header value: entries joined by commas, with bytes a header cannot carry
        /// (controls but tab) replaced.
        fn value() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(entry(), 0..5).prop_map(|entries| entries.join(&b","[..]))
        }

        fn header_value(bytes: &[u8]) -> HeaderValue {
            let clean: Vec<u8> = bytes
                .iter()
                .map(|&b| {
                    if (b < 0x20 && b != b'\t') || b == 0x7f {
                        b'?'
                    } else {
                        b
                    }
                })
                .collect();
            HeaderValue::from_bytes(&clean).unwrap_or(HeaderValue::from_static("?"))
        }

        fn header_map(values: &[Vec<u8>]) -> HeaderMap {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append("x-forwarded-for", header_value(value));
            }
            headers
        }

        /// The `X-Forwarded-For` entries as the documented rule reads them: every header's
        /// raw bytes joined with commas into one list, then cut at the commas. No header,
        /// no entry.
        fn entries(headers: &HeaderMap) -> Vec<Vec<u8>> {
            let values: Vec<&[u8]> = headers
                .get_all("x-forwarded-for")
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            if values.is_empty() {
                return Vec::new();
            }
            values
                .join(&b","[..])
                .split(|&b| b == b',')
                .map(<[u8]>::to_vec)
                .collect()
        }

        /// The address an entry names, if it is not garbled: UTF-8 text that, with the
        /// white space around it cut, is a socket address (`v4:port`, `[v6]:port`) or an
        /// address.
        fn read_entry(entry: &[u8]) -> Option<IpAddr> {
            let text = String::from_utf8(entry.to_vec()).ok()?;
            let text = text.trim_matches(char::is_whitespace);
            let ip = match text.parse::<SocketAddr>() {
                Ok(socket) => Some(socket.ip()),
                Err(_) => text.parse::<IpAddr>().ok(),
            };
            // An IPv4-mapped IPv6 address is its IPv4 address.
            ip.map(|ip| match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            })
        }

        /// The documented rule, as a model that shares no code with `client_ip`: the hops
        /// of the request are the entries, left to right, then the peer. The client is the
        /// right-most hop that is not a trusted address: an untrusted address is the
        /// client; a garbled entry stopped the walk, so the hop right of it (the last
        /// address believed) is. When every hop is a trusted address, the walk ran out at
        /// the left-most, which is the client.
        fn model(peer: IpAddr, headers: &HeaderMap) -> IpAddr {
            let hops: Vec<Option<IpAddr>> = entries(headers)
                .iter()
                .map(|entry| read_entry(entry))
                .chain(std::iter::once(read_entry(peer.to_string().as_bytes())))
                .collect();
            let believed = |hop: Option<&Option<IpAddr>>| {
                hop.copied()
                    .flatten()
                    .expect("the model reaches only hops that are addresses")
            };
            match hops.iter().rposition(|hop| !hop.is_some_and(is_trusted)) {
                Some(stop) => hops[stop].unwrap_or_else(|| believed(hops.get(stop + 1))),
                None => believed(hops.first()),
            }
        }

        /// True when some run of `hop`'s bytes spells `ip`.
        fn literally_in(hop: &[u8], ip: IpAddr) -> bool {
            (0..hop.len()).any(|start| {
                (start + 1..=hop.len()).any(|end| {
                    std::str::from_utf8(&hop[start..end])
                        .is_ok_and(|text| text.parse::<IpAddr>() == Ok(ip))
                })
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn the_result_is_the_peer_or_an_address_in_the_header(
                peer in any_ip(),
                values in prop::collection::vec(value(), 0..4),
            ) {
                let headers = header_map(&values);
                let got = client_ip(peer, &headers, &trusted());
                prop_assert!(
                    got == peer.to_canonical()
                        || entries(&headers).iter().any(|entry| literally_in(entry, got)),
                    "{} from {:?}", got, headers
                );
            }

            #[test]
            fn untrusted_peers_are_the_client(
                peer in untrusted_ip(),
                values in prop::collection::vec(value(), 0..4),
            ) {
                prop_assert_eq!(
                    client_ip(peer, &header_map(&values), &trusted()),
                    peer.to_canonical()
                );
            }

            #[test]
            fn trusted_peers_follow_the_documented_rule(
                peer in trusted_ip(),
                values in prop::collection::vec(value(), 0..4),
            ) {
                let headers = header_map(&values);
                prop_assert_eq!(
                    client_ip(peer, &headers, &trusted()),
                    model(peer, &headers),
                    "{:?}", headers
                );
            }

            #[test]
            fn a_chain_of_trusted_hops_yields_its_left_most(
                peer in trusted_ip(),
                values in prop::collection::vec(
                    prop::collection::vec(written(trusted_ip()), 1..4)
                        .prop_map(|entries| entries.join(&b","[..])),
                    0..4,
                ),
            ) {
                let headers = header_map(&values);
                let left_most = entries(&headers).first().and_then(|entry| read_entry(entry));
                prop_assert_eq!(
                    client_ip(peer, &headers, &trusted()),
                    left_most.unwrap_or(peer.to_canonical())
                );
            }

            /// Whatever the client sends, the address a trusted proxy appended for it is the
            /// one believed: on a header of its own, after the client's last one, or all
            /// joined on one line.
            #[test]
            fn forged_entries_never_hide_the_real_client(
                forged in prop::collection::vec(value(), 0..4),
                client in written(untrusted_ip()),
                proxies in prop::collection::vec(written(trusted_ip()), 0..3),
                peer in trusted_ip(),
                style in 0..3u8,
            ) {
                let Some(expected) = read_entry(&client) else {
                    return Err(TestCaseError::fail("written addresses parse"));
                };
                let appended = std::iter::once(client).chain(proxies).collect::<Vec<_>>().join(&b", "[..]);
                let mut values = forged;
                match (style, values.last_mut()) {
                    (1, Some(last)) => {
                        last.extend_from_slice(b", ");
                        last.extend_from_slice(&appended);
                    }
                    (2, Some(_)) => {
                        let mut line = values.join(&b", "[..]);
                        line.extend_from_slice(b", ");
                        line.extend_from_slice(&appended);
                        values = vec![line];
                    }
                    _ => values.push(appended),
                }
                let headers = header_map(&values);
                prop_assert_eq!(client_ip(peer, &headers, &trusted()), expected, "{:?}", headers);
            }
        }
    }
}
