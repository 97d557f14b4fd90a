//! Passwords: the rules a new password must meet, and Argon2id hashing on a bounded pool of
//! blocking threads, so that a storm of logins queues up instead of starving the runtime.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

use crate::users::model::{Email, Invalid};

/// Shortest and longest accepted passwords, in characters.
pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

/// OWASP's recommended Argon2id setting: 19 MiB of memory, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// The shipped list, sorted and lower-case (see data/README.md), borrowed from the binary.
static COMMON_PASSWORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .collect()
});

/// Number of entries in the shipped common-password list.
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

/// True when `password` (compared in lower case) is on the shipped list.
pub fn is_common(password: &str) -> bool {
    COMMON_PASSWORDS
        .binary_search(&password.to_lowercase().as_str())
        .is_ok()
}

/// Checks a new password against the contract's rules; every broken rule is reported.
/// Without a valid email, the rule about its local part cannot apply.
pub fn check_rules(password: &str, email: Option<&Email>) -> Vec<Invalid> {
    let mut problems = Vec::new();
    let length = password.chars().count();
    if length < MIN_LEN {
        problems.push(Invalid {
            code: "too_short",
            message: format!("must be at least {MIN_LEN} characters"),
        });
    }
    if length > MAX_LEN {
        problems.push(Invalid {
            code: "too_long",
            message: format!("must be at most {MAX_LEN} characters"),
        });
    }
    if is_common(password) {
        problems.push(Invalid {
            code: "too_common",
            message: "is one of the most common passwords".into(),
        });
    }
    // A local part of one or two characters would forbid most passwords; from three on
    // it is a real hint about the person.
    let local = email.map(Email::local_part).unwrap_or_default();
    if local.chars().count() >= 3 && password.to_lowercase().contains(&local) {
        problems.push(Invalid {
            code: "contains_email",
            message: "must not contain the email address".into(),
        });
    }
    problems
}

/// Hashing failed for a reason that is not the password's fault.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing pool is gone")]
    PoolClosed,
}

/// Argon2id on a bounded number of blocking threads.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    queued: Arc<AtomicI64>,
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// A hasher running at most `threads` hashes at a time.
    pub fn new(threads: usize) -> Result<Self, HashError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        // A hash of a random password: verifying against it costs what a real check costs,
        // so an unknown email cannot be told from a wrong password by timing.
        let salt = SaltString::generate(&mut OsRng);
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut OsRng, &mut random);
        let dummy_hash = argon2
            .hash_password(&random, &salt)
            .map_err(|e| HashError::Argon2(e.to_string()))?
            .to_string();
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(threads.max(1))),
            queued: Arc::new(AtomicI64::new(0)),
            dummy_hash: Arc::from(dummy_hash),
        })
    }

    /// Hashes a new password (PHC string with salt and parameters).
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Argon2(e.to_string()))
        })
        .await?
    }

    /// Checks a password against a stored hash; with no hash (unknown account, or one
    /// without a password) the same work is done against a dummy and `false` returned.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        let (hash, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        self.run(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| HashError::Argon2(e.to_string()))?;
            let matches = argon2.verify_password(password.as_bytes(), &parsed).is_ok();
            Ok(matches && real)
        })
        .await?
    }

    /// Hashes waiting for or holding a thread.
    pub fn queue_length(&self) -> i64 {
        self.queued.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let _queued = QueuedGuard(self.queued.clone());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::PoolClosed)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|_| HashError::PoolClosed)
    }
}

struct QueuedGuard(Arc<AtomicI64>);

impl Drop for QueuedGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> Email {
        Email::parse(value).unwrap_or_else(|_| panic!("valid test email"))
    }

    #[test]
    fn the_shipped_list_is_large_and_searchable() {
        assert!(common_password_count() >= 10_000);
        assert!(is_common("password1"));
        assert!(is_common("PassWord1"), "compared in lower case");
        assert!(!is_common("correct horse battery staple"));
    }

    #[test]
    fn rules_report_every_problem() {
        let ada = email("ada.lovelace@example.com");
        let codes = |p: &str| {
            check_rules(p, Some(&ada))
                .into_iter()
                .map(|i| i.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(codes("short"), ["too_short"]);
        assert_eq!(codes(&"x".repeat(129)), ["too_long"]);
        assert_eq!(codes("1234567890"), ["too_common"]);
        assert_eq!(codes("my-ADA.LOVELACE-secret"), ["contains_email"]);
        assert!(codes("a perfectly fine passphrase").is_empty());
        assert_eq!(
            check_rules("é".repeat(10).as_str(), Some(&ada)).len(),
            0,
            "characters, not bytes"
        );
        // Very short local parts are not held against the password.
        assert!(
            check_rules("a perfectly fine passphrase", Some(&email("a@example.com"))).is_empty()
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let Ok(passwords) = Passwords::new(2) else {
            panic!("hasher")
        };
        let Ok(hash) = passwords.hash("a perfectly fine passphrase").await else {
            panic!("hash")
        };
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(matches!(
            passwords
                .verify("a perfectly fine passphrase", Some(&hash))
                .await,
            Ok(true)
        ));
        assert!(matches!(
            passwords.verify("another passphrase!", Some(&hash)).await,
            Ok(false)
        ));
        assert!(matches!(
            passwords.verify("a perfectly fine passphrase", None).await,
            Ok(false)
        ));
        assert_eq!(passwords.queue_length(), 0);
    }
}
