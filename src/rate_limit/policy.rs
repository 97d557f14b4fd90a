//! Which limits exist and how their buckets are keyed: a per-IP limit on every route,
//! tighter per-IP limits that routes declare for themselves ([`RouteLimit`]), per-address
//! limits on the mail-sending routes ([`AddressLimit`]), and the failed-login slowdown.

use std::net::IpAddr;
use std::time::Duration;

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
}

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
    /// The bucket every request from `ip` is charged to.
    pub fn per_ip_bucket(&self, ip: IpAddr) -> Bucket {
        (format!("ip:{ip}"), self.per_ip)
    }

    /// The bucket of a route's own limit for `ip`.
    pub fn route_bucket(&self, route: RouteLimit, ip: IpAddr) -> Bucket {
        let (name, limit) = match route {
            RouteLimit::Login => ("login", self.login),
            RouteLimit::Register => ("register", self.register),
            RouteLimit::ResendVerification => ("resend", self.recovery_per_ip),
            RouteLimit::ForgotPassword => ("forgot", self.recovery_per_ip),
        };
        (format!("{name}:{ip}"), limit)
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

    /// The key of the failed-login slowdown: the address and the client IP together, so that
    /// failures from one IP cannot lock the account's owner out everywhere else.
    pub fn slowdown_key(email_index: &str, ip: IpAddr) -> String {
        format!("login-failures:{email_index}:{ip}")
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
            Limits::slowdown_key("abcd", ip),
            "login-failures:abcd:203.0.113.9"
        );
    }
}
