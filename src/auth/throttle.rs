//! The limits that need what only the authentication services know: the address in the
//! body (per-address limits on mail-sending routes), the real outcome of a login (the
//! failed-login slowdown), and the audit record of a refusal.

use std::net::IpAddr;

use super::AuthError;
use crate::db::audit;
use crate::deps::Deps;
use crate::model::{Action, Email, Event};
use crate::rate_limit::Verdict;
use crate::rate_limit::policy::{ACCOUNT_WINDOW, AddressLimit, KNOWN_IP_DAYS, Limits};
use crate::request::RequestMeta;

/// Charges a request to the bucket of its address; refuses it when the address has had
/// its share. `None` when limits are off.
pub async fn charge_address(
    deps: &Deps,
    kind: AddressLimit,
    email: &Email,
    meta: &RequestMeta,
) -> Result<Option<Verdict>, AuthError> {
    let limiter = &deps.limiter;
    let bucket = limiter
        .limits()
        .address_bucket(kind, &deps.email_key(email));
    match limiter.charge(std::slice::from_ref(&bucket)).await {
        Ok(verdict) => Ok(verdict),
        Err(verdict) => {
            record_refusal(deps, &bucket.0, meta, "rate_limit").await;
            Err(AuthError::RateLimited(verdict))
        }
    }
}

/// The failed-login slowdown of one address from one client IP.
pub(super) struct Slowdown<'a> {
    deps: &'a Deps,
    key: String,
}

impl<'a> Slowdown<'a> {
    /// The slowdown of the address with blind index `email_index` from the request's
    /// client IP; `None` when limits are off or the IP is unknown.
    pub(super) fn of(deps: &'a Deps, email_index: &[u8], ip: Option<IpAddr>) -> Option<Self> {
        let ip = ip.filter(|_| deps.limiter.enabled())?;
        let key = deps
            .limiter
            .limits()
            .slowdown_key(&Deps::index_key(email_index), ip);
        Some(Self { deps, key })
    }

    /// Refuses the attempt while the slowdown lasts (audited).
    pub(super) async fn check(&self, meta: &RequestMeta) -> Result<(), AuthError> {
        let limiter = &self.deps.limiter;
        let Some(wait) = limiter.login_blocked(&self.key).await else {
            return Ok(());
        };
        record_refusal(self.deps, &self.key, meta, "login_slowdown").await;
        Err(AuthError::RateLimited(Verdict::blocked(
            limiter.limits().login.count,
            wait,
        )))
    }

    /// Counts a wrong password.
    pub(super) async fn failed(&self) {
        self.deps.limiter.login_failed(&self.key).await;
    }

    /// Forgets the failures: the password was right.
    pub(super) async fn succeeded(&self) {
        self.deps.limiter.login_succeeded(&self.key).await;
    }
}

/// The account-wide budget of failed logins: once an account has had
/// `LOGIN_ACCOUNT_FAILURE_BUDGET` failures within the last hour, from all IPs together, its
/// logins are refused from every client that has not signed in to it in the last 30 days.
/// Guessing spread over many IPs is bounded too, while the owner's usual IPs keep working.
pub(super) struct AccountBudget<'a> {
    deps: &'a Deps,
    key: String,
}

impl<'a> AccountBudget<'a> {
    /// The budget of the account with the address of blind index `email_index` (unknown
    /// addresses count alike); `None` when limits are off.
    pub(super) fn of(deps: &'a Deps, email_index: &[u8]) -> Option<Self> {
        deps.limiter.enabled().then(|| Self {
            deps,
            key: Limits::account_window(&Deps::index_key(email_index)),
        })
    }

    fn budget(&self) -> u32 {
        self.deps.limiter.limits().account_failure_budget
    }

    /// Refuses the attempt while the budget is spent, unless the client signed in to
    /// `account` in the last 30 days (audited).
    pub(super) async fn check(
        &self,
        account: Option<uuid::Uuid>,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let limiter = &self.deps.limiter;
        let Some(wait) = limiter
            .window_wait(&self.key, self.budget(), ACCOUNT_WINDOW)
            .await
        else {
            return Ok(());
        };
        if let (Some(account), Some(ip)) = (account, meta.ip) {
            let client = limiter.limits().client(ip);
            if audit::signed_in_from(&self.deps.db, account, client, KNOWN_IP_DAYS).await? {
                return Ok(());
            }
        }
        record_refusal(self.deps, &self.key, meta, "account_budget").await;
        Err(AuthError::RateLimited(Verdict::blocked(
            self.budget(),
            wait,
        )))
    }

    /// Counts a failed login of the account.
    pub(super) async fn failed(&self) {
        self.deps
            .limiter
            .window_add(&self.key, self.budget(), ACCOUNT_WINDOW)
            .await;
    }
}

/// Writes the `auth.rate_limited` audit event, at most once a minute per bucket, so that a
/// flood of refusals does not become a flood of inserts. A failed write is logged only:
/// the refusal stands either way.
pub async fn record_refusal(deps: &Deps, bucket: &str, meta: &RequestMeta, reason: &str) {
    if !deps.limiter.first_in_a_while(bucket) {
        return;
    }
    let event = Event::failure(Action::AuthRateLimited, None, None, meta)
        .with_details(serde_json::json!({"limit": reason}));
    if let Err(error) = audit::insert(&deps.db, &event).await {
        tracing::warn!(%error, "could not record a rate-limit refusal");
    }
}
