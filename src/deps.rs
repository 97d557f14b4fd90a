//! What the services share, built once at start from the settings: the database, the
//! ciphers, the password hasher, the token keys, the rate limiter, the image workers and
//! the outbox wake-up. Every service function takes `&Deps`.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;

use crate::config::Settings;
use crate::crypto::{BlindIndex, CryptoError, FieldCipher, Purpose, Sealed};
use crate::db::PoolSettings;
use crate::db::reserved::Reserved;
use crate::images::ImageWorkers;
use crate::mfa::RecoveryCodeHasher;
use crate::model::Email;
use crate::passkeys::{RelyingParty, RelyingPartyError};
use crate::passwords::{HashError, Passwords};
use crate::rate_limit::RateLimiter;
use crate::rate_limit::redis::RedisStore;
use crate::tokens::{KeyError, TokenKeys};

/// Everything the services need.
pub struct Deps {
    pub settings: Settings,
    pub db: PgPool,
    /// Connections kept out of the pool for the read of every authenticated request.
    pub reserved: Reserved,
    pub cipher: Arc<FieldCipher>,
    pub blind_index: BlindIndex,
    /// Keyed hashes of recovery codes (keyed by the blind-index key, under its own label).
    pub recovery_codes: RecoveryCodeHasher,
    pub passwords: Passwords,
    pub tokens: TokenKeys,
    /// Woken when mail is queued, so the mailer sends it at once.
    pub outbox_wake: Arc<Notify>,
    pub images: ImageWorkers,
    pub limiter: RateLimiter,
    /// Work done after the response (see [`Background`]).
    pub background: Arc<Background>,
    /// The passkeys' relying party; `None` when its RP ID would be an IP address (the
    /// passkey routes then answer 404).
    pub passkeys: Option<RelyingParty>,
}

/// Work a service does after its answer is sent, so that the answer takes the same time
/// whatever the work (a reset mail for a known address, none for an unknown one). Its
/// failures are logged; nothing waits for it but shutdown and tests.
#[derive(Default)]
pub struct Background {
    running: std::sync::atomic::AtomicUsize,
    idle: Notify,
}

impl Background {
    /// Runs `work` on the runtime, counted until it ends.
    pub fn spawn(self: &Arc<Self>, work: impl Future<Output = ()> + Send + 'static) {
        use std::sync::atomic::Ordering;
        self.running.fetch_add(1, Ordering::SeqCst);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            work.await;
            if this.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.idle.notify_waiters();
            }
        });
    }

    /// Waits until no background work runs.
    pub async fn idle(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Why the dependencies cannot be built from valid-looking settings.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("password hasher: {0}")]
    Hasher(#[from] HashError),
    #[error("REDIS_URL: {0}")]
    Redis(String),
    #[error(transparent)]
    Passkeys(RelyingPartyError),
}

impl Deps {
    /// Builds the dependencies; fails on keys or addresses that do not work.
    pub fn new(settings: Settings, db: PgPool) -> Result<Self, StartError> {
        let tokens = TokenKeys::from_pems(
            settings.keys.jwt_signing_pem.expose(),
            &settings
                .keys
                .jwt_verify_pems
                .iter()
                .map(|pem| pem.expose().clone())
                .collect::<Vec<_>>(),
            &settings.tokens.issuer,
            &settings.tokens.audience,
            settings.tokens.access_ttl,
        )?;
        let redis = match &settings.redis {
            Some(redis) => Some(
                RedisStore::new(redis.url.expose(), &redis.key_prefix)
                    .map_err(|e| StartError::Redis(e.to_string()))?,
            ),
            None => None,
        };
        let pool = PoolSettings::from(&settings.database);
        let passkeys = relying_party(&settings)?;
        Ok(Self {
            passkeys,
            cipher: Arc::new(FieldCipher::new(settings.keys.encryption.expose())),
            blind_index: BlindIndex::new(*settings.keys.blind_index.expose()),
            recovery_codes: RecoveryCodeHasher::new(*settings.keys.blind_index.expose()),
            passwords: Passwords::new(settings.password_hash_threads)?,
            tokens,
            outbox_wake: Arc::new(Notify::new()),
            images: ImageWorkers::default(),
            limiter: RateLimiter::new(settings.limits, redis),
            background: Arc::new(Background::default()),
            reserved: Reserved::new(pool.reserved(), pool.acquire_timeout),
            db,
            settings,
        })
    }

    /// Base of links in emails.
    pub fn public_url(&self) -> &str {
        self.settings.server.public_url.base()
    }

    /// Seals an address for storage and computes its blind index.
    pub fn seal_email(&self, email: &Email) -> Result<(Sealed, Vec<u8>), CryptoError> {
        let sealed = self
            .cipher
            .encrypt(Purpose::Email, email.as_str().as_bytes())?;
        Ok((sealed, self.email_index(email)))
    }

    /// The blind index of an address in hex, as rate-limit keys hold it (never the address).
    pub fn email_key(&self, email: &Email) -> String {
        Self::index_key(&self.email_index(email))
    }

    /// A blind index (see [`Self::email_index`]) in hex, as rate-limit keys hold it.
    pub fn index_key(index: &[u8]) -> String {
        index.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The blind index of an address: how it is looked up.
    pub fn email_index(&self, email: &Email) -> Vec<u8> {
        self.blind_index.compute(&email.normalised())
    }
}

/// The passkeys' relying party of the settings. An RP ID that is an IP address (as when
/// `PUBLIC_URL` names one) turns passkeys off with a warning; origins that do not belong to
/// the RP ID stop the start.
fn relying_party(settings: &Settings) -> Result<Option<RelyingParty>, StartError> {
    let passkeys = &settings.passkeys;
    match RelyingParty::new(&passkeys.rp_id, &passkeys.origins, &passkeys.rp_name) {
        Ok(rp) => Ok(Some(rp)),
        Err(RelyingPartyError::IpAddress(rp_id)) => {
            tracing::warn!(
                rp_id,
                "passkeys are off: WEBAUTHN_RP_ID (by default the host of PUBLIC_URL) is an \
                 IP address, and WebAuthn needs a domain name; set WEBAUTHN_RP_ID"
            );
            Ok(None)
        }
        Err(error) => Err(StartError::Passkeys(error)),
    }
}
