//! Which limits exist and how their buckets are keyed: a per-IP limit on every route,
//! tighter per-IP limits that routes declare for themselves ([`RouteLimit`]), per-address
//! limits on the mail-sending routes ([`AddressLimit`]), and the failed-login slowdown.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::{IpNet, Ipv6Net};

use super::gcra::Limit;
use super::slowdown::Slowdown;

/// Every limit, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub enabled: bool,
    pub per_ip: Limit,
    pub login: Limit,
    pub register: Limit,
    pub recovery_per_ip: Limit,
    pub recovery_per_email: Limit,
    pub slowdown: Slowdown,
    /// IPv6 clients are counted per network of this prefix length: one host's /64 is one
    /// client, since anyone with a server has a /64 to rotate through.
    pub ipv6_prefix: u8,
    /// Failed logins of one account, from all IPs together, within [`ACCOUNT_WINDOW`],
    /// before IPs that never signed in to it are refused.
    pub account_failure_budget: u32,
    /// Email changes per user, and per new address.
    pub email_change: Limit,
    /// Failed re-authentications (`current_password`) per user within [`REAUTH_WINDOW`]
    /// that are judged; further attempts are refused unjudged.
    pub reauth_failure_budget: u32,
}

/// The sliding window of the account-wide failed-login budget.
pub const ACCOUNT_WINDOW: Duration = Duration::from_secs(3600);
/// How recently an IP must have signed in to an account to keep signing in to it once its
/// budget is spent.
pub const KNOWN_IP_DAYS: u32 = 30;
/// The sliding window of the re-authentication failures a user may make.
pub const REAUTH_WINDOW: Duration = Duration::from_secs(3600);

impl Default for Limits {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip: Limit::new(600, Duration::from_secs(60)),
            login: Limit::new(10, Duration::from_secs(60)),
            register: Limit::new(10, Duration::from_secs(3600)),
            recovery_per_ip: Limit::new(5, Duration::from_secs(3600)),
            recovery_per_email: Limit::new(3, Duration::from_secs(3600)),
            slowdown: Slowdown {
                after: 5,
                max: Duration::from_secs(900),
            },
            ipv6_prefix: 64,
            account_failure_budget: 50,
            email_change: Limit::new(3, Duration::from_secs(3600)),
            reauth_failure_budget: 10,
        }
    }
}

/// A bucket: its key in the store, and its limit.
pub type Bucket = (String, Limit);

/// A limit per client IP that a route declares for itself, on top of the per-IP limit
/// every route has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLimit {
    Login,
    /// The second step of a sign-in: its own bucket, at the login rate.
    LoginMfa,
    /// A passkey sign-in's options and its answer: buckets of their own, at the login rate.
    PasskeyOptions,
    PasskeyLogin,
    Register,
    ResendVerification,
    ForgotPassword,
}

/// A limit per email address, whether or not an account has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressLimit {
    ResendVerification,
    ForgotPassword,
}

impl Limits {
    /// The client an address counts as: an IPv4 address (also when written as an
    /// IPv4-mapped IPv6 one), or the IPv6 network of [`Limits::ipv6_prefix`] bits.
    pub fn client(&self, ip: IpAddr) -> IpNet {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpNet::from(IpAddr::V4(v4)),
            IpAddr::V6(v6) => Ipv6Net::new(v6, self.ipv6_prefix.min(128))
                .map(|net| IpNet::V6(net.trunc()))
                .unwrap_or_else(|_| IpNet::from(IpAddr::V6(v6))),
        }
    }

    /// How a client appears in bucket keys: `203.0.113.9`, or `2001:db8:1:2::/64`.
    fn client_key(&self, ip: IpAddr) -> String {
        match self.client(ip) {
            IpNet::V4(net) => net.addr().to_string(),
            net @ IpNet::V6(_) => net.to_string(),
        }
    }

    /// The bucket every request from `ip` is charged to.
    pub fn per_ip_bucket(&self, ip: IpAddr) -> Bucket {
        (format!("ip:{}", self.client_key(ip)), self.per_ip)
    }

    /// The bucket of a route's own limit for `ip`.
    pub fn route_bucket(&self, route: RouteLimit, ip: IpAddr) -> Bucket {
        let (name, limit) = match route {
            RouteLimit::Login => ("login", self.login),
            RouteLimit::LoginMfa => ("login_mfa", self.login),
            RouteLimit::PasskeyOptions => ("passkey_options", self.login),
            RouteLimit::PasskeyLogin => ("passkey_login", self.login),
            RouteLimit::Register => ("register", self.register),
            RouteLimit::ResendVerification => ("resend", self.recovery_per_ip),
            RouteLimit::ForgotPassword => ("forgot", self.recovery_per_ip),
        };
        (format!("{name}:{}", self.client_key(ip)), limit)
    }

    /// The buckets of an email change: its user, and its new address (hex blind index).
    pub fn email_change_buckets(&self, user_id: uuid::Uuid, new_email_index: &str) -> [Bucket; 2] {
        [
            (format!("email-change-user:{user_id}"), self.email_change),
            (
                format!("email-change-to:{new_email_index}"),
                self.email_change,
            ),
        ]
    }

    /// The sliding window of an account's failed logins (by the hex blind index of its
    /// address, so that unknown addresses count alike).
    pub fn account_window(email_index: &str) -> String {
        format!("account-failures:{email_index}")
    }

    /// The sliding window of a user's failed re-authentications.
    pub fn reauth_window(user_id: uuid::Uuid) -> String {
        format!("reauth-failures:{user_id}")
    }

    /// The bucket of an address (`email_index`: the hex of its blind index, never the
    /// address itself).
    pub fn address_bucket(&self, kind: AddressLimit, email_index: &str) -> Bucket {
        let name = match kind {
            AddressLimit::ResendVerification => "resend-email",
            AddressLimit::ForgotPassword => "forgot-email",
        };
        (format!("{name}:{email_index}"), self.recovery_per_email)
    }

    /// The key of the failed-login slowdown: the address and the client together, so that
    /// failures from one client cannot lock the account's owner out everywhere else.
    pub fn slowdown_key(&self, email_index: &str, ip: IpAddr) -> String {
        format!("login-failures:{email_index}:{}", self.client_key(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_a_bucket_of_its_own() {
        let limits = Limits::default();
        let ip: IpAddr = [203, 0, 113, 9].into();
        assert_eq!(limits.per_ip_bucket(ip).0, "ip:203.0.113.9");
        let routes = [
            (RouteLimit::Login, "login:203.0.113.9", limits.login),
            (
                RouteLimit::Register,
                "register:203.0.113.9",
                limits.register,
            ),
            (
                RouteLimit::ForgotPassword,
                "forgot:203.0.113.9",
                limits.recovery_per_ip,
            ),
            (
                RouteLimit::ResendVerification,
                "resend:203.0.113.9",
                limits.recovery_per_ip,
            ),
        ];
        for (route, key, limit) in routes {
            assert_eq!(limits.route_bucket(route, ip), (key.to_owned(), limit));
        }
        assert_eq!(
            limits.address_bucket(AddressLimit::ForgotPassword, "abcd"),
            ("forgot-email:abcd".to_owned(), limits.recovery_per_email)
        );
        assert_eq!(
            limits
                .address_bucket(AddressLimit::ResendVerification, "abcd")
                .0,
            "resend-email:abcd"
        );
        assert_eq!(
            limits.slowdown_key("abcd", ip),
            "login-failures:abcd:203.0.113.9"
        );
    }

    #[test]
    fn ipv6_clients_count_per_prefix_and_mapped_addresses_as_ipv4() {
        let limits = Limits::default();
        let key = |text: &str| {
            let ip: IpAddr = text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
            limits.per_ip_bucket(ip).0
        };
        assert_eq!(key("2001:db8:1:2::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(key("2001:db8:1:3::1"), "ip:2001:db8:1:3::/64");
        assert_eq!(key("::ffff:203.0.113.9"), "ip:203.0.113.9");
        assert_eq!(key("203.0.113.9"), "ip:203.0.113.9");
        assert_eq!(key("::1"), "ip:::/64");
        let whole = Limits {
            ipv6_prefix: 128,
            ..Limits::default()
        };
        let one: IpAddr = "2001:db8::7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(whole.per_ip_bucket(one).0, "ip:2001:db8::7/128");
        assert_eq!(
            limits.slowdown_key("ab", "2001:db8:1:2::9".parse().unwrap_or(one)),
            "login-failures:ab:2001:db8:1:2::/64"
        );
    }
}
