//! Passwords: the rules a new password must meet, and Argon2id hashing on a fixed pool of
//! dedicated threads, so that a storm of logins queues up instead of starving the runtime.
//!
//! Dedicated threads rather than `spawn_blocking`: each hash allocates 19 MiB, and the
//! allocator keeps a per-thread arena; on tokio's elastic blocking pool a storm would spread
//! hashes over many threads, each keeping its 19 MiB, and the process would grow by
//! hundreds of megabytes. A fixed set of threads bounds that to one buffer each.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use std::sync::mpsc;

use crate::model::Email;
use crate::password_formats::{self, Scheme};
use crate::validation::Invalid;

/// Shortest and longest accepted passwords, in characters.
pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

/// OWASP's recommended Argon2id setting: 19 MiB of memory, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// The shipped list, sorted and lower-case (see data/README.md), borrowed from the binary.
static COMMON_PASSWORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
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
    jobs: mpsc::SyncSender<Job>,
    queued: Arc<AtomicI64>,
    dummy_hash: Arc<str>,
    costs: Arc<Costs>,
}

/// A password checked against a stored hash.
#[derive(Debug)]
pub struct Checked {
    pub matches: bool,
    /// On a match with a hash of another format, or of Argon2id with other parameters: its
    /// replacement with the current parameters, made on the same thread right after.
    pub upgrade: Option<Upgrade>,
    /// How long the verification itself took (without waiting for a thread).
    pub took: Duration,
}

/// A stored hash to replace.
#[derive(Debug)]
pub struct Upgrade {
    /// The hash that was verified (the replacement is made only if it is still the one
    /// stored: of two first logins at once, one rehashes).
    pub old: String,
    pub new: String,
    /// The old format, for the audit trail.
    pub old_scheme: &'static str,
}

impl Passwords {
    /// A hasher running at most `threads` hashes at a time.
    pub fn new(threads: usize) -> Result<Self, HashError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let jobs = spawn_workers(threads.max(1))?;
        // A hash of a random password: verifying against it costs what a real check costs,
        // so an unknown email cannot be told from a wrong password by timing. Computed on a
        // hashing thread, like every hash, so its memory is the thread's reusable buffer.
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut OsRng, &mut random);
        let (sender, receiver) = mpsc::channel();
        let for_dummy = argon2.clone();
        jobs.send(Box::new(move || {
            let _ = sender.send(hash_with(&for_dummy, &random));
        }))
        .map_err(|_| HashError::PoolClosed)?;
        let dummy_hash = receiver.recv().map_err(|_| HashError::PoolClosed)??;
        Ok(Self {
            argon2,
            jobs,
            queued: Arc::new(AtomicI64::new(0)),
            dummy_hash: Arc::from(dummy_hash),
            costs: Arc::new(Costs::default()),
        })
    }

    /// Hashes a new password (PHC string with salt and parameters).
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        self.run(move || hash_with(&argon2, password.as_bytes()))
            .await?
    }

    /// Checks a password against a stored hash; with no hash (unknown account, or one
    /// without a password) the same work is done against a dummy and `false` returned.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        Ok(self.check(password, stored).await?.matches)
    }

    /// Checks a password against a stored hash of any importable format (see
    /// [`crate::password_formats`]); with no hash the same work is done against a dummy
    /// Argon2id hash and it does not match. A match against a hash that is not Argon2id with
    /// the current parameters comes with its replacement.
    pub async fn check(&self, password: &str, stored: Option<&str>) -> Result<Checked, HashError> {
        let password = password.to_owned();
        let (hash, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let argon2 = self.argon2.clone();
        let costs = self.costs.clone();
        self.run(move || {
            let started = Instant::now();
            let (matches, scheme) = if is_current(&hash) {
                (verify_current(&argon2, password.as_bytes(), &hash)?, None)
            } else {
                let parsed = password_formats::parse(&hash)
                    .map_err(|e| HashError::Argon2(format!("stored hash unreadable: {e}")))?;
                (parsed.verify(password.as_bytes()), Some(parsed.scheme()))
            };
            let took = started.elapsed();
            costs.record(scheme, took);
            let upgrade = match scheme {
                Some(scheme) if matches && real => Some(Upgrade {
                    new: hash_with(&argon2, password.as_bytes())?,
                    old: hash,
                    old_scheme: scheme.name(),
                }),
                _ => None,
            };
            Ok(Checked {
                matches: matches && real,
                upgrade,
                took,
            })
        })
        .await?
    }

    /// Learns what checking each of these stored hashes costs (against a random password),
    /// so that failed logins are padded from the start, not only after the first login of
    /// an imported account. An unreadable hash is skipped.
    pub async fn learn_costs(&self, hashes: &[String]) {
        let mut random = [0u8; 16];
        rand::RngCore::fill_bytes(&mut OsRng, &mut random);
        let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
        for hash in hashes {
            let _ = self.check(&password, Some(hash)).await;
        }
    }

    /// How long a failed check is padded to now (see [`Self::pad_failure`]).
    pub fn failure_floor(&self) -> Duration {
        self.costs.slowest()
    }

    /// Waits, without using a thread, until a failed check has taken as long as the
    /// slowest kind of check this process has been running lately, so that how long a
    /// failure takes tells nothing of which hash, if any, was behind it (an imported bcrypt
    /// hash of cost 12 takes longer than our Argon2id, and than the dummy of an unknown
    /// address).
    pub async fn pad_failure(&self, took: Duration) {
        let floor = self.costs.slowest();
        if floor > took {
            tokio::time::sleep(floor - took).await;
        }
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
        let (done, result) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            let _ = done.send(span.in_scope(work));
        });
        // The queue is bounded (QUEUE per thread): when it is full, the caller waits, on a
        // blocking-pool thread, rather than memory growing without limit.
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(job)) => {
                let jobs = self.jobs.clone();
                tokio::task::spawn_blocking(move || jobs.send(job))
                    .await
                    .map_err(|_| HashError::PoolClosed)?
                    .map_err(|_| HashError::PoolClosed)?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(HashError::PoolClosed),
        }
        result.await.map_err(|_| HashError::PoolClosed)
    }
}

/// Whether `hash` is Argon2id with the current parameters: no rehash needed.
pub fn is_current(hash: &str) -> bool {
    password_formats::is_argon2id_with(hash, MEMORY_KIB, ITERATIONS, LANES)
}

/// Verifies against an Argon2id hash with the current parameters, in this thread's
/// reusable memory.
fn verify_current(argon2: &Argon2<'_>, password: &[u8], hash: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(hash).map_err(argon_error)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError::Argon2(
            "stored hash without salt or output".into(),
        ));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(argon_error)?;
    let mut output = vec![0u8; expected.len()];
    with_memory(argon2.params().block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt_raw, &mut output, memory)
    })?;
    // Output's equality is constant-time.
    Ok(Output::new(&output).map_err(argon_error)? == expected)
}

/// How long each kind of check has been taking: a moving average per format (the current
/// Argon2id, and each importable one), forgotten a day after its last use, so that the
/// padding of failures follows the hashes the accounts still have.
struct Costs {
    /// Per kind: (average in microseconds, seconds since `epoch` at its last use).
    kinds: [(AtomicU64, AtomicU64); KINDS],
    epoch: Instant,
}

impl Default for Costs {
    fn default() -> Self {
        Self {
            kinds: std::array::from_fn(|_| (AtomicU64::new(0), AtomicU64::new(0))),
            epoch: Instant::now(),
        }
    }
}

/// The current Argon2id, and each [`Scheme`].
const KINDS: usize = 12;

/// A kind unused for this long no longer sets the padding.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

impl Costs {
    fn record(&self, scheme: Option<Scheme>, took: Duration) {
        let (average, seen) = &self.kinds[kind(scheme)];
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = average.load(Ordering::Relaxed);
        // Weight 1/8: one slow check on a busy machine moves the average a little.
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        average.store(new, Ordering::Relaxed);
        seen.store(self.now(), Ordering::Relaxed);
    }

    fn slowest(&self) -> Duration {
        let now = self.now();
        let micros = self
            .kinds
            .iter()
            .filter(|(_, seen)| {
                now.saturating_sub(seen.load(Ordering::Relaxed)) < FORGET_AFTER.as_secs()
            })
            .map(|(average, _)| average.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        Duration::from_micros(micros)
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }
}

fn kind(scheme: Option<Scheme>) -> usize {
    match scheme {
        None => 0,
        Some(scheme) => 1 + Scheme::ALL.iter().position(|s| *s == scheme).unwrap_or(0),
    }
}

/// Hashes on the calling (hashing) thread, into a PHC string.
fn hash_with(argon2: &Argon2<'_>, password: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(argon_error)?;
    let mut output = [0u8; 32];
    with_memory(argon2.params().block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt_raw, &mut output, memory)
    })?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: argon2.params().try_into().map_err(argon_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(argon_error)?),
    };
    Ok(hash.to_string())
}

fn argon_error(error: impl std::fmt::Display) -> HashError {
    HashError::Argon2(error.to_string())
}

thread_local! {
    /// The Argon2 memory of this hashing thread, allocated once and reused by every hash:
    /// the process holds one 19 MiB buffer per hashing thread, not one per hash.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn with_memory(
    blocks: usize,
    hash: impl FnOnce(&mut [Block]) -> argon2::Result<()>,
) -> Result<(), HashError> {
    MEMORY.with(|memory| {
        let mut memory = memory.try_borrow_mut().map_err(argon_error)?;
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        hash(&mut memory[..blocks]).map_err(argon_error)
    })
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting per hashing thread before submitters wait.
const QUEUE: usize = 256;

fn spawn_workers(threads: usize) -> Result<mpsc::SyncSender<Job>, HashError> {
    let (sender, receiver) = mpsc::sync_channel::<Job>(QUEUE * threads);
    let receiver = Arc::new(std::sync::Mutex::new(receiver));
    for n in 0..threads {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                loop {
                    // Hold the lock only to take a job, not while running it.
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| HashError::Argon2(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(sender)
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

    #[tokio::test]
    async fn a_foreign_hash_that_matches_comes_with_its_argon2id_upgrade() {
        let Ok(passwords) = Passwords::new(1) else {
            panic!("hasher")
        };
        let Ok(bcrypt) = bcrypt::hash("an imported passphrase", 4) else {
            panic!("bcrypt")
        };
        let Ok(checked) = passwords
            .check("an imported passphrase", Some(&bcrypt))
            .await
        else {
            panic!("check")
        };
        assert!(checked.matches);
        let Some(upgrade) = checked.upgrade else {
            panic!("an upgrade")
        };
        assert_eq!(
            (upgrade.old.as_str(), upgrade.old_scheme),
            (bcrypt.as_str(), "bcrypt")
        );
        assert!(is_current(&upgrade.new), "{}", upgrade.new);
        assert!(matches!(
            passwords
                .verify("an imported passphrase", Some(&upgrade.new))
                .await,
            Ok(true)
        ));
        let Ok(wrong) = passwords.check("another passphrase", Some(&bcrypt)).await else {
            panic!("check")
        };
        assert!(!wrong.matches && wrong.upgrade.is_none());
        // The current format needs no upgrade.
        let Ok(current) = passwords
            .check("an imported passphrase", Some(&upgrade.new))
            .await
        else {
            panic!("check")
        };
        assert!(current.matches && current.upgrade.is_none());
        assert!(passwords.check("x", Some("md5$abc")).await.is_err());
    }

    #[tokio::test]
    async fn the_cost_of_stored_hashes_can_be_learned_before_anyone_logs_in() {
        let Ok(passwords) = Passwords::new(1) else {
            panic!("hasher")
        };
        assert_eq!(passwords.failure_floor(), Duration::ZERO);
        let Ok(bcrypt) = bcrypt::hash("an imported passphrase", 6) else {
            panic!("bcrypt")
        };
        passwords
            .learn_costs(&[bcrypt, "not a hash".to_owned()])
            .await;
        assert!(passwords.failure_floor() > Duration::ZERO);
    }

    #[test]
    fn failures_are_padded_to_the_slowest_kind_of_check_of_the_last_day() {
        let costs = Costs::default();
        assert_eq!(costs.slowest(), Duration::ZERO);
        costs.record(None, Duration::from_millis(20));
        costs.record(Some(Scheme::Bcrypt), Duration::from_millis(200));
        assert_eq!(costs.slowest(), Duration::from_millis(200));
        // A moving average: one fast check moves it by an eighth.
        costs.record(Some(Scheme::Bcrypt), Duration::ZERO);
        assert_eq!(costs.slowest(), Duration::from_millis(175));
        // A kind unused for a day no longer counts.
        let (_, seen) = &costs.kinds[kind(Some(Scheme::Bcrypt))];
        seen.store(0, Ordering::Relaxed);
        let (_, current) = &costs.kinds[kind(None)];
        let later = FORGET_AFTER.as_secs() + 1;
        current.store(later, Ordering::Relaxed);
        let old = Costs {
            kinds: std::array::from_fn(|i| {
                let (average, seen) = &costs.kinds[i];
                (
                    AtomicU64::new(average.load(Ordering::Relaxed)),
                    AtomicU64::new(seen.load(Ordering::Relaxed)),
                )
            }),
            epoch: Instant::now()
                .checked_sub(Duration::from_secs(later))
                .unwrap_or_else(Instant::now),
        };
        if old.now() >= later {
            assert_eq!(old.slowest(), Duration::from_millis(20));
        }
    }
}
