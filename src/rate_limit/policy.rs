//! Which limits apply to which request: a per-IP limit on every route, tighter per-IP
//! limits on some `/auth` routes, per-address limits on the mail-sending ones, and the
//! failed-login slowdown.

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

/// Routes with limits of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Login,
    Register,
    ResendVerification,
    ForgotPassword,
    Other,
}

impl Route {
    /// Classifies a request by method and matched route.
    pub fn of(method: &str, path: Option<&str>) -> Self {
        match (method, path) {
            ("POST", Some("/api/v1/auth/login")) => Self::Login,
            ("POST", Some("/api/v1/auth/register")) => Self::Register,
            ("POST", Some("/api/v1/auth/resend-verification")) => Self::ResendVerification,
            ("POST", Some("/api/v1/auth/forgot-password")) => Self::ForgotPassword,
            _ => Self::Other,
        }
    }

    /// Whether the limit needs the email address of the body.
    pub fn reads_email(self) -> bool {
        !matches!(self, Self::Register | Self::Other)
    }
}

impl Limits {
    /// The buckets that one request from `ip` to `route` is charged to; `email_index` is the
    /// hex blind index of the address in the body, when the route has one.
    pub fn buckets(
        &self,
        route: Route,
        ip: IpAddr,
        email_index: Option<&str>,
    ) -> Vec<(String, Limit)> {
        let mut buckets = vec![(format!("ip:{ip}"), self.per_ip)];
        match route {
            Route::Login => buckets.push((format!("login:{ip}"), self.login)),
            Route::Register => buckets.push((format!("register:{ip}"), self.register)),
            Route::ResendVerification | Route::ForgotPassword => {
                let name = if route == Route::ForgotPassword {
                    "forgot"
                } else {
                    "resend"
                };
                buckets.push((format!("{name}:{ip}"), self.recovery_per_ip));
                // Counted per address whether or not an account has it.
                if let Some(index) = email_index {
                    buckets.push((format!("{name}-email:{index}"), self.recovery_per_email));
                }
            }
            Route::Other => {}
        }
        buckets
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
    fn routes_get_their_own_buckets_on_top_of_the_per_ip_one() {
        let limits = Limits::default();
        let ip: IpAddr = [203, 0, 113, 9].into();
        let keys = |route| {
            limits
                .buckets(route, ip, Some("abcd"))
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(Route::Other), ["ip:203.0.113.9"]);
        assert_eq!(keys(Route::Login), ["ip:203.0.113.9", "login:203.0.113.9"]);
        assert_eq!(
            keys(Route::ForgotPassword),
            ["ip:203.0.113.9", "forgot:203.0.113.9", "forgot-email:abcd"]
        );
        assert_eq!(Route::of("POST", Some("/api/v1/auth/login")), Route::Login);
        assert_eq!(Route::of("GET", Some("/api/v1/auth/login")), Route::Other);
    }
}
