//! The domain's dependencies, built once at start from the settings: database, ciphers,
//! password hasher, token keys, and the outbox wake-up. Domain services take `&Services`.

use std::sync::Arc;

use lettre::message::Mailbox;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::auth::password::{HashError, Passwords};
use crate::auth::tokens::{KeyError, TokenKeys};
use crate::avatars::ImageWorkers;
use crate::config::{Environment, Settings};
use crate::crypto::{BlindIndex, FieldCipher};
use crate::db::reserved::Reserved;
use crate::email::worker::{Transport, TransportError, Worker};
use crate::rate_limit::RateLimiter;
use crate::rate_limit::redis::RedisStore;

/// Everything domain code needs.
pub struct Services {
    pub settings: Settings,
    pub db: PgPool,
    /// Connections kept out of the pool for the read of every authenticated request.
    pub reserved: Reserved,
    pub cipher: Arc<FieldCipher>,
    pub blind_index: BlindIndex,
    pub passwords: Passwords,
    pub tokens: TokenKeys,
    pub mail_from: Mailbox,
    pub outbox_wake: Arc<Notify>,
    pub images: ImageWorkers,
    pub limiter: RateLimiter,
}

/// Why the services cannot be built from valid-looking settings.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("password hasher: {0}")]
    Hasher(#[from] HashError),
    #[error("EMAIL_FROM is not a mailbox (`Name <address>` or `address`): {0}")]
    MailFrom(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("REDIS_URL: {0}")]
    Redis(String),
}

impl Services {
    /// Builds the services; fails on keys or addresses that do not work.
    pub fn new(settings: Settings, db: PgPool) -> Result<Self, StartError> {
        let config = &settings.config;
        let tokens = TokenKeys::from_pems(
            settings.keys.jwt_signing_pem.expose(),
            &settings.keys.jwt_verify_pems,
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl,
        )?;
        let mail_from: Mailbox = config
            .email_from
            .parse()
            .map_err(|e: lettre::address::AddressError| StartError::MailFrom(e.to_string()))?;
        let threads = config
            .password_hash_threads
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
        let redis = match &config.redis_url {
            Some(url) => Some(
                RedisStore::new(url.expose(), &config.redis_key_prefix)
                    .map_err(|e| StartError::Redis(e.to_string()))?,
            ),
            None => None,
        };
        let limiter = RateLimiter::new(config.limits(), redis);
        Ok(Self {
            cipher: Arc::new(FieldCipher::new(settings.keys.encryption.expose())),
            blind_index: BlindIndex::new(*settings.keys.blind_index.expose()),
            passwords: Passwords::new(threads)?,
            tokens,
            mail_from,
            outbox_wake: Arc::new(Notify::new()),
            images: ImageWorkers::default(),
            limiter,
            reserved: {
                let pool = crate::app::pool_settings(&settings);
                Reserved::new(pool.reserved(), pool.acquire_timeout)
            },
            db,
            settings,
        })
    }

    /// The outbox worker for these services.
    pub fn outbox_worker(&self) -> Result<Worker, StartError> {
        let config = &self.settings.config;
        let transport = Transport::from_config(
            config.smtp_url.as_ref().map(|s| s.expose().as_str()),
            config.environment == Environment::Development,
        )?;
        Ok(Worker {
            pool: self.db.clone(),
            cipher: self.cipher.clone(),
            transport,
            from: self.mail_from.clone(),
            wake: self.outbox_wake.clone(),
        })
    }

    /// Base of links in emails.
    pub fn public_url(&self) -> &str {
        &self.settings.config.public_url
    }
}
