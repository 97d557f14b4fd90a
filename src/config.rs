//! Settings: every option is an environment variable and a flag of `gatehouse serve`,
//! parsed by clap ([`Config`]), then checked as a whole and resolved into typed
//! [`Settings`] (durations, URLs, sizes, loaded keys). After start-up nothing converts a
//! setting or falls back to a default: a value that cannot be used stops the start with a
//! message naming its variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{ArgAction, Args, ValueEnum};
use ipnet::IpNet;
use lettre::message::Mailbox;
use url::Url;

use crate::crypto::EncryptionKeys;
use crate::model::Email;
use crate::passwords;
use crate::rate_limit::gcra::Limit;
use crate::rate_limit::policy::Limits;
use crate::rate_limit::slowdown::Slowdown;
use crate::secret::Secret;
use crate::tokens;

/// Development-only JWT signing key (Ed25519, PKCS#8). Public by design: never valid in
/// production, where the service refuses to start with it.
pub const DEV_JWT_SIGNING_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIGPT4igqu8TJvnsDYNk5vJ5ywnuq+XsWC2uR8Ma6d5ek
-----END PRIVATE KEY-----
";
/// Development-only field-encryption key (`kid:base64`).
pub const DEV_ENCRYPTION_KEYS: &str = "dev:ZGV2ZWxvcG1lbnQtb25seS1lbmNyeXB0aW9uLWtleSE=";
/// Development-only blind-index key (base64 of 32 bytes).
pub const DEV_BLIND_INDEX_KEY: &str = "ZGV2ZWxvcG1lbnQtb25seS1ibGluZC1pbmRleC1rZXk=";

/// Where the service runs: development fills in missing keys, production refuses to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The raw settings as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL URL; the database is created if missing and migrated on start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@localhost:5432/gatehouse",
        hide_env_values = true
    )]
    pub database_url: Secret<String>,

    /// Largest number of pooled PostgreSQL connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Seconds a request waits for a pooled connection before answering 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub database_acquire_timeout: u64,

    /// Listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// Base of the links in emails (scheme, host, optional port and path).
    #[arg(long, env = "PUBLIC_URL", default_value = "http://localhost:8080",
          value_parser = parse_public_url)]
    pub public_url: Url,

    /// The frontend's address: the pages of emailed links offer a "Continue to sign in"
    /// link to it after success; unset, they say the page can be closed.
    #[arg(long, env = "APP_URL", value_parser = parse_app_url)]
    pub app_url: Option<Url>,

    /// `development` or `production`.
    #[arg(long = "env", env = "GATEHOUSE_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,

    /// PEM private key (PKCS#8), Ed25519 or P-256, that signs access tokens.
    #[arg(long, env = "JWT_SIGNING_KEY_FILE")]
    pub jwt_signing_key_file: Option<PathBuf>,

    /// Comma-separated PEM keys of retired signers (private PKCS#8, or public SPKI), still
    /// accepted and published.
    #[arg(long, env = "JWT_VERIFY_KEY_FILES", value_delimiter = ',')]
    pub jwt_verify_key_files: Vec<PathBuf>,

    /// `iss` claim of access tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "gatehouse", value_parser = parse_non_empty)]
    pub jwt_issuer: String,

    /// `aud` claim of access tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "gatehouse", value_parser = parse_non_empty)]
    pub jwt_audience: String,

    /// The issuer name authenticator apps show for this service's TOTP codes.
    #[arg(long, env = "MFA_ISSUER", default_value = "Gatehouse", value_parser = parse_non_empty)]
    pub mfa_issuer: String,

    /// The passkeys' relying party ID (a domain); unset, the host of `PUBLIC_URL`.
    #[arg(long, env = "WEBAUTHN_RP_ID", value_parser = parse_non_empty)]
    pub webauthn_rp_id: Option<String>,

    /// Comma-separated origins whose passkey answers are accepted; unset, the origin of
    /// `PUBLIC_URL`.
    #[arg(long, env = "WEBAUTHN_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub webauthn_origins: Vec<String>,

    /// The service's name that authenticators show when a passkey is made.
    #[arg(long, env = "WEBAUTHN_RP_NAME", default_value = "Gatehouse", value_parser = parse_non_empty)]
    pub webauthn_rp_name: String,

    /// Access token lifetime in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub access_token_ttl: u64,

    /// Refresh token lifetime in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value_t = 2_592_000,
          value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub refresh_token_ttl: u64,

    /// Seconds during which a just-rotated refresh token still refreshes (0: never).
    #[arg(long, env = "REFRESH_REUSE_GRACE", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub refresh_reuse_grace: u64,

    /// `kid:base64key[,kid:base64key...]` (32-byte keys): the first encrypts, all decrypt.
    #[arg(long, env = "ENCRYPTION_KEYS", hide_env_values = true, value_parser = parse_encryption_keys)]
    pub encryption_keys: Option<Secret<EncryptionKeys>>,

    /// Base64 of a 32-byte key for the email lookup hash.
    #[arg(long, env = "BLIND_INDEX_KEY", hide_env_values = true, value_parser = parse_key32)]
    pub blind_index_key: Option<Secret<[u8; 32]>>,

    /// SMTP server, e.g. `smtp://127.0.0.1:2525` or `smtps://user:pass@host`; unset: mail goes to the log.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, value_parser = parse_smtp_url)]
    pub smtp_url: Option<Secret<String>>,

    /// Sender of outgoing mail.
    #[arg(long, env = "EMAIL_FROM", default_value = "Gatehouse <no-reply@localhost>",
          value_parser = parse_non_empty)]
    pub email_from: String,

    /// Redis URL of the shared rate-limit store; unset: limits are kept in process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_parser = parse_redis_url)]
    pub redis_url: Option<Secret<String>>,

    /// `false` switches every rate limit off.
    #[arg(long, env = "RATE_LIMIT_ENABLED", default_value_t = true, action = ArgAction::Set)]
    pub rate_limit_enabled: bool,

    /// Requests per client IP on every route, as `count/period` (`s`, `m` or `h`).
    #[arg(long, env = "RATE_LIMIT_PER_IP", default_value = "600/1m", value_parser = parse_limit)]
    pub rate_limit_per_ip: Limit,

    /// Logins per client IP.
    #[arg(long, env = "RATE_LIMIT_LOGIN", default_value = "10/1m", value_parser = parse_limit)]
    pub rate_limit_login: Limit,

    /// Registrations per client IP.
    #[arg(long, env = "RATE_LIMIT_REGISTER", default_value = "10/1h", value_parser = parse_limit)]
    pub rate_limit_register: Limit,

    /// Resend-verification and forgot-password requests per client IP (each).
    #[arg(long, env = "RATE_LIMIT_RECOVERY_PER_IP", default_value = "5/1h", value_parser = parse_limit)]
    pub rate_limit_recovery_per_ip: Limit,

    /// Resend-verification and forgot-password requests per email address (each).
    #[arg(long, env = "RATE_LIMIT_RECOVERY_PER_EMAIL", default_value = "3/1h", value_parser = parse_limit)]
    pub rate_limit_recovery_per_email: Limit,

    /// Consecutive failed logins (per address and client IP) before the slowdown starts.
    #[arg(long, env = "LOGIN_SLOWDOWN_AFTER", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub login_slowdown_after: u32,

    /// IPv6 clients are counted per network of this prefix length (one host's /64 is one
    /// client).
    #[arg(long, env = "RATE_LIMIT_IPV6_PREFIX", default_value_t = 64,
          value_parser = clap::value_parser!(u8).range(16..=128))]
    pub rate_limit_ipv6_prefix: u8,

    /// Failed logins an hour per account, from all IPs, before IPs that have not signed in
    /// to it in the last 30 days are refused.
    #[arg(long, env = "LOGIN_ACCOUNT_FAILURE_BUDGET", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub login_account_failure_budget: u32,

    /// Email changes per user, and per new address, as `count/period`.
    #[arg(long, env = "RATE_LIMIT_EMAIL_CHANGE", default_value = "3/1h", value_parser = parse_limit)]
    pub rate_limit_email_change: Limit,

    /// Failed re-authentications (current password) an hour per user that are judged;
    /// further attempts are refused until the hour's count falls.
    #[arg(long, env = "REAUTH_FAILURE_BUDGET", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub reauth_failure_budget: u32,

    /// Longest slowdown, in seconds.
    #[arg(long, env = "LOGIN_SLOWDOWN_MAX", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub login_slowdown_max: u64,

    /// Prefix of every Redis key this service writes.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "gatehouse:", value_parser = parse_non_empty)]
    pub redis_key_prefix: String,

    /// Comma-separated IPs or CIDRs whose `X-Forwarded-For` is believed.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_ip_or_cidr)]
    pub trusted_proxies: Vec<IpNet>,

    /// Comma-separated origins allowed by CORS.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// `json` or `pretty`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Creates this active admin on start if no admin exists.
    #[arg(
        long,
        env = "BOOTSTRAP_ADMIN_EMAIL",
        requires = "bootstrap_admin_password"
    )]
    pub bootstrap_admin_email: Option<String>,

    /// Password of the bootstrap admin.
    #[arg(
        long,
        env = "BOOTSTRAP_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "bootstrap_admin_email"
    )]
    pub bootstrap_admin_password: Option<Secret<String>>,

    /// Seconds after which a request still being handled is answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,

    /// Largest accepted JSON request body, in bytes.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 65_536,
          value_parser = parse_body_limit)]
    pub body_limit: usize,

    /// Threads hashing passwords at once (default: one per CPU core).
    #[arg(long, env = "PASSWORD_HASH_THREADS",
          value_parser = parse_threads)]
    pub password_hash_threads: Option<usize>,

    /// Seconds that shutdown waits for in-flight requests before giving up on them.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_timeout: u64,
}

/// Settings after validation: typed, with every key loaded.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub log_format: LogFormat,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub keys: Keys,
    pub mail: MailSettings,
    pub limits: Limits,
    /// The shared rate-limit store; `None`: limits are kept in process.
    pub redis: Option<RedisSettings>,
    /// Threads hashing passwords at once.
    pub password_hash_threads: usize,
    /// The admin to create on start if no admin exists.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    pub passkeys: PasskeySettings,
}

/// The passkeys' relying party (`WEBAUTHN_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySettings {
    /// The RP ID: a domain, or (refused later, with a warning) an IP address.
    pub rp_id: String,
    /// Accepted origins; the first is the main one.
    pub origins: Vec<Url>,
    pub rp_name: String,
}

/// The HTTP server and the addresses it is known by.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind_addr: SocketAddr,
    pub public_url: PublicUrl,
    /// `APP_URL`: where the pages of emailed links send people on.
    pub app_url: Option<Url>,
    /// Allowed CORS origins (`scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Largest JSON request body, in bytes.
    pub body_limit: usize,
}

/// `PUBLIC_URL`: the base of links in emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    url: Url,
    base: String,
}

impl PublicUrl {
    /// The URL without a trailing slash, so that `{base}/verify-email` joins cleanly.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the service is published over HTTPS (then HSTS is sent).
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }
}

/// PostgreSQL.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret<String>,
    /// Connections in all (pool and reserve).
    pub max_connections: u32,
    /// Longest wait for a connection before a request answers 503.
    pub acquire_timeout: Duration,
}

/// Access and refresh tokens.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a just-rotated refresh token still refreshes (zero: never).
    pub refresh_reuse_grace: Duration,
    /// `MFA_ISSUER`: the name authenticator apps show.
    pub mfa_issuer: String,
}

/// Outgoing mail.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `None`: mail goes to the log.
    pub smtp_url: Option<Secret<String>>,
    pub from: Mailbox,
}

/// The Redis rate-limit store.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: Secret<String>,
    pub key_prefix: String,
}

/// `BOOTSTRAP_ADMIN_EMAIL` and `BOOTSTRAP_ADMIN_PASSWORD`.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    pub password: Secret<String>,
}

/// Key material, either configured or (in development only) the fixed development keys.
#[derive(Debug, Clone)]
pub struct Keys {
    pub jwt_signing_pem: Secret<String>,
    pub jwt_verify_pems: Vec<Secret<String>>,
    pub encryption: Secret<EncryptionKeys>,
    pub blind_index: Secret<[u8; 32]>,
    /// Names of the settings that fell back to development keys.
    pub development_defaults: Vec<&'static str>,
}

/// Why the configuration cannot be used; each message names the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required when GATEHOUSE_ENV=production{1}")]
    MissingInProduction(&'static str, &'static str),
    #[error("{0} holds the public development key, refused when GATEHOUSE_ENV=production")]
    DevelopmentKeyInProduction(&'static str),
    #[error("{name}: cannot read {path}: {source}")]
    Unreadable {
        name: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{name}: {path} is not a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)")]
    NotPkcs8Pem { name: &'static str, path: String },
    #[error(
        "JWT_VERIFY_KEY_FILES: {0} is not a PEM key (-----BEGIN PRIVATE KEY----- or -----BEGIN PUBLIC KEY-----)"
    )]
    NotVerifyKeyPem(String),
    #[error("EMAIL_FROM is not a mailbox (`Name <address>` or `address`): {0}")]
    MailFrom(String),
    /// A bootstrap admin setting that breaks a rule every account follows.
    #[error("{0} {1}")]
    BootstrapAdmin(&'static str, String),
}

/// Parses [`Config`] alone, for callers outside the `serve` command line. A flag given
/// twice keeps its last value.
#[derive(Debug, clap::Parser)]
#[command(args_override_self = true)]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// Parses flags (the first item is the program name) and the environment.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <ConfigOnly as clap::Parser>::try_parse_from(args).map(|c| c.config)
    }

    /// Checks the settings as a whole and loads the keys.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let production = self.environment == Environment::Production;
        let mut development_defaults = Vec::new();

        let jwt_signing_pem = match &self.jwt_signing_key_file {
            Some(path) => {
                let pem = read_private_key_pem("JWT_SIGNING_KEY_FILE", path)?;
                if production && is_development_jwt_key(&pem) {
                    return Err(ConfigError::DevelopmentKeyInProduction(
                        "JWT_SIGNING_KEY_FILE",
                    ));
                }
                pem
            }
            None if production => {
                return Err(ConfigError::MissingInProduction(
                    "JWT_SIGNING_KEY_FILE",
                    " (write one with `gatehouse keys generate`)",
                ));
            }
            None => {
                development_defaults.push("JWT_SIGNING_KEY_FILE");
                DEV_JWT_SIGNING_KEY_PEM.to_owned()
            }
        };

        let mut jwt_verify_pems = Vec::new();
        for path in self
            .jwt_verify_key_files
            .iter()
            .filter(|p| !p.as_os_str().is_empty())
        {
            let pem = read_verify_key_pem(path)?;
            if production && is_development_jwt_key(&pem) {
                return Err(ConfigError::DevelopmentKeyInProduction(
                    "JWT_VERIFY_KEY_FILES",
                ));
            }
            jwt_verify_pems.push(Secret::new(pem));
        }

        let dev_encryption = parse_encryption_keys(DEV_ENCRYPTION_KEYS)
            .map_err(|_| ConfigError::DevelopmentKeyInProduction("ENCRYPTION_KEYS"))?;
        let encryption = match &self.encryption_keys {
            Some(keys) => {
                let dev_key = dev_encryption.expose().0[0].1;
                if production && keys.expose().0.iter().any(|(_, k)| *k == dev_key) {
                    return Err(ConfigError::DevelopmentKeyInProduction("ENCRYPTION_KEYS"));
                }
                keys.clone()
            }
            None if production => {
                return Err(ConfigError::MissingInProduction(
                    "ENCRYPTION_KEYS",
                    " (kid:base64 of 32 random bytes, e.g. main:$(openssl rand -base64 32))",
                ));
            }
            None => {
                development_defaults.push("ENCRYPTION_KEYS");
                dev_encryption
            }
        };

        let dev_blind = parse_key32(DEV_BLIND_INDEX_KEY)
            .map_err(|_| ConfigError::DevelopmentKeyInProduction("BLIND_INDEX_KEY"))?;
        let blind_index = match &self.blind_index_key {
            Some(key) => {
                if production && key.expose() == dev_blind.expose() {
                    return Err(ConfigError::DevelopmentKeyInProduction("BLIND_INDEX_KEY"));
                }
                key.clone()
            }
            None if production => {
                return Err(ConfigError::MissingInProduction(
                    "BLIND_INDEX_KEY",
                    " (base64 of 32 random bytes, e.g. $(openssl rand -base64 32))",
                ));
            }
            None => {
                development_defaults.push("BLIND_INDEX_KEY");
                dev_blind
            }
        };

        if production && self.smtp_url.is_none() {
            return Err(ConfigError::MissingInProduction(
                "SMTP_URL",
                " (without it every mail, verification and reset links included, would be \
                 lost; only development writes mail to the log)",
            ));
        }
        self.check_bootstrap_admin()?;
        let keys = Keys {
            jwt_signing_pem: Secret::new(jwt_signing_pem),
            jwt_verify_pems,
            encryption,
            blind_index,
            development_defaults,
        };
        self.resolve(keys)
    }

    /// The bootstrap admin is an account like any other: its address must be valid and its
    /// password must follow the password rules. Checked here, so that the message names
    /// the setting and the rule.
    fn check_bootstrap_admin(&self) -> Result<(), ConfigError> {
        let (Some(email), Some(password)) =
            (&self.bootstrap_admin_email, &self.bootstrap_admin_password)
        else {
            return Ok(());
        };
        let email = Email::parse(email).map_err(|invalid| {
            ConfigError::BootstrapAdmin("BOOTSTRAP_ADMIN_EMAIL", invalid.message)
        })?;
        let broken: Vec<String> = passwords::check_rules(password.expose(), Some(&email))
            .into_iter()
            .map(|invalid| invalid.message)
            .collect();
        if broken.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::BootstrapAdmin(
                "BOOTSTRAP_ADMIN_PASSWORD",
                format!("breaks the password rules: {}", broken.join("; ")),
            ))
        }
    }

    /// Turns the checked flags into typed sections.
    fn resolve(self, keys: Keys) -> Result<Settings, ConfigError> {
        let limits = self.limits();
        let from: Mailbox = self
            .email_from
            .parse()
            .map_err(|e: lettre::address::AddressError| ConfigError::MailFrom(e.to_string()))?;
        let base = self.public_url.as_str().trim_end_matches('/').to_owned();
        let passkeys = PasskeySettings {
            rp_id: self
                .webauthn_rp_id
                .unwrap_or_else(|| self.public_url.host_str().unwrap_or_default().to_owned()),
            origins: if self.webauthn_origins.is_empty() {
                vec![origin_of(&self.public_url)]
            } else {
                self.webauthn_origins
                    .iter()
                    .filter_map(|origin| Url::parse(origin).ok())
                    .collect()
            },
            rp_name: self.webauthn_rp_name,
        };
        let password_hash_threads = match self.password_hash_threads {
            Some(threads) => threads,
            None => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        };
        let bootstrap_admin = match (self.bootstrap_admin_email, self.bootstrap_admin_password) {
            (Some(email), Some(password)) => Some(BootstrapAdmin { email, password }),
            _ => None,
        };
        Ok(Settings {
            environment: self.environment,
            log_format: self.log_format,
            server: ServerSettings {
                bind_addr: self.bind_addr,
                public_url: PublicUrl {
                    url: self.public_url,
                    base,
                },
                app_url: self.app_url,
                cors_origins: self.cors_origins,
                trusted_proxies: self.trusted_proxies,
                request_timeout: Duration::from_secs(self.request_timeout),
                shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
                body_limit: self.body_limit,
            },
            database: DatabaseSettings {
                url: self.database_url,
                max_connections: self.database_max_connections,
                acquire_timeout: Duration::from_secs(self.database_acquire_timeout),
            },
            tokens: TokenSettings {
                issuer: self.jwt_issuer,
                audience: self.jwt_audience,
                access_ttl: Duration::from_secs(self.access_token_ttl),
                refresh_ttl: Duration::from_secs(self.refresh_token_ttl),
                refresh_reuse_grace: Duration::from_secs(self.refresh_reuse_grace),
                mfa_issuer: self.mfa_issuer,
            },
            keys,
            mail: MailSettings {
                smtp_url: self.smtp_url,
                from,
            },
            limits,
            redis: self.redis_url.map(|url| RedisSettings {
                url,
                key_prefix: self.redis_key_prefix,
            }),
            password_hash_threads,
            bootstrap_admin,
            passkeys,
        })
    }

    /// The rate limits as configured.
    fn limits(&self) -> Limits {
        Limits {
            enabled: self.rate_limit_enabled,
            per_ip: self.rate_limit_per_ip,
            login: self.rate_limit_login,
            register: self.rate_limit_register,
            recovery_per_ip: self.rate_limit_recovery_per_ip,
            recovery_per_email: self.rate_limit_recovery_per_email,
            slowdown: Slowdown {
                after: self.login_slowdown_after,
                max: Duration::from_secs(self.login_slowdown_max),
            },
            ipv6_prefix: self.rate_limit_ipv6_prefix,
            account_failure_budget: self.login_account_failure_budget,
            email_change: self.rate_limit_email_change,
            reauth_failure_budget: self.reauth_failure_budget,
        }
    }
}

/// Whether a PEM holds the development key, compared by key material (its thumbprint), not
/// by text: the same key written with other line breaks or headers is still that key.
fn is_development_jwt_key(pem: &str) -> bool {
    match (tokens::key_id(pem), tokens::key_id(DEV_JWT_SIGNING_KEY_PEM)) {
        (Ok(key), Ok(development)) => key == development,
        _ => false,
    }
}

/// A retired signer: its private key (PKCS#8) or only its public half (SPKI).
fn read_verify_key_pem(path: &PathBuf) -> Result<String, ConfigError> {
    let pem = read_pem("JWT_VERIFY_KEY_FILES", path)?;
    let start = pem.trim_start();
    if !start.starts_with(PRIVATE_PEM) && !start.starts_with("-----BEGIN PUBLIC KEY-----") {
        return Err(ConfigError::NotVerifyKeyPem(path.display().to_string()));
    }
    Ok(pem)
}

fn read_private_key_pem(name: &'static str, path: &PathBuf) -> Result<String, ConfigError> {
    let pem = read_pem(name, path)?;
    if !pem.trim_start().starts_with(PRIVATE_PEM) {
        return Err(ConfigError::NotPkcs8Pem {
            name,
            path: path.display().to_string(),
        });
    }
    Ok(pem)
}

/// The header of a PKCS#8 private key in PEM.
const PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----";

/// The text of the PEM file of setting `name`.
fn read_pem(name: &'static str, path: &PathBuf) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        name,
        path: path.display().to_string(),
        source,
    })
}

fn parse_non_empty(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(value.to_owned())
}

/// Accepts `http(s)://host[:port][/path]`.
fn parse_public_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err("must be scheme, host, optional port and path, without query".into());
    }
    Ok(url)
}

/// Accepts an `http(s)://` URL (the frontend's sign-in page or home).
fn parse_app_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL".into());
    }
    Ok(url)
}

/// A number within `range`, as a `usize`.
fn parse_usize_in(value: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize, String> {
    let number: usize = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a whole number"))?;
    if range.contains(&number) {
        Ok(number)
    } else {
        Err(format!(
            "{number} is not in {}..={}",
            range.start(),
            range.end()
        ))
    }
}

fn parse_body_limit(value: &str) -> Result<usize, String> {
    parse_usize_in(value, 1_024..=16_777_216)
}

fn parse_threads(value: &str) -> Result<usize, String> {
    parse_usize_in(value, 1..=256)
}

fn parse_smtp_url(value: &str) -> Result<Secret<String>, String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none() {
        return Err("must look like smtp://host:port or smtps://user:pass@host".into());
    }
    Ok(Secret::new(value.to_owned()))
}

fn parse_redis_url(value: &str) -> Result<Secret<String>, String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none() {
        return Err("must look like redis://host:port".into());
    }
    Ok(Secret::new(value.to_owned()))
}

/// Parses `count/period`, the period a number with `s`, `m` or `h` (`10/1m`, `5/1h`).
fn parse_limit(value: &str) -> Result<Limit, String> {
    let invalid = || format!("`{value}` is not count/period (e.g. 10/1m, 5/1h, 600/60s)");
    let (count, period) = value.trim().split_once('/').ok_or_else(invalid)?;
    let count: u32 = count.trim().parse().map_err(|_| invalid())?;
    let period = period.trim();
    let split = period.len().saturating_sub(1);
    let (amount, unit) = period.split_at(split);
    let amount: u64 = if amount.is_empty() {
        1
    } else {
        amount.parse().map_err(|_| invalid())?
    };
    let seconds = match unit {
        "s" => amount,
        "m" => amount * 60,
        "h" => amount * 3600,
        _ => return Err(invalid()),
    };
    if count == 0 || seconds == 0 || seconds > 7 * 86_400 {
        return Err(invalid());
    }
    Ok(Limit::new(count, std::time::Duration::from_secs(seconds)))
}

fn parse_ip_or_cidr(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{value}` is neither an IP address nor a CIDR"))
}

/// The origin (`scheme://host[:port]`) of a URL, as a URL.
fn origin_of(url: &Url) -> Url {
    Url::parse(&url.origin().ascii_serialization()).unwrap_or_else(|_| url.clone())
}

fn parse_origin(value: &str) -> Result<String, String> {
    let value = value.trim();
    let url = url::Url::parse(value).map_err(|_| format!("`{value}` is not an origin"))?;
    let origin = url.origin().ascii_serialization();
    if !url.origin().is_tuple() || value.trim_end_matches('/') != origin {
        return Err(format!(
            "`{value}` is not an origin (scheme://host[:port], no path)"
        ));
    }
    Ok(origin)
}

fn parse_key32(value: &str) -> Result<Secret<[u8; 32]>, String> {
    let bytes = BASE64
        .decode(value.trim())
        .map_err(|_| "not valid base64".to_owned())?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))?;
    Ok(Secret::new(key))
}

fn parse_encryption_keys(value: &str) -> Result<Secret<EncryptionKeys>, String> {
    let mut keys: Vec<(String, [u8; 32])> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (kid, key) = item
            .split_once(':')
            .ok_or_else(|| "each key must be kid:base64key".to_owned())?;
        let valid_kid = !kid.is_empty()
            && kid.len() <= 32
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_kid {
            return Err(format!(
                "key id `{kid}` must be 1-32 characters of [A-Za-z0-9_-]"
            ));
        }
        if keys.iter().any(|(k, _)| k == kid) {
            return Err(format!("key id `{kid}` appears twice"));
        }
        let key = parse_key32(key).map_err(|e| format!("key `{kid}`: {e}"))?;
        keys.push((kid.to_owned(), *key.expose()));
    }
    if keys.is_empty() {
        return Err("at least one kid:base64key is required".into());
    }
    Ok(Secret::new(EncryptionKeys(keys)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTHER_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDAF4bw2EAYf8Bbz2o26Pmx7kCDx2tykooOe5x1ZJr9h
-----END PRIVATE KEY-----
";

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut argv = vec!["gatehouse"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv)
    }

    fn settings(args: &[&str]) -> Settings {
        let Ok(Ok(settings)) = parse(args).map(Config::validate) else {
            panic!("valid settings: {args:?}");
        };
        settings
    }

    #[test]
    fn public_url_loses_its_trailing_slash() {
        let public = settings(&["--public-url", "https://id.example.com/"])
            .server
            .public_url;
        assert_eq!(public.base(), "https://id.example.com");
        assert!(public.is_https());
        assert!(parse_public_url("ftp://example.com").is_err());
        assert!(parse_public_url("https://example.com/?a=b").is_err());
    }

    #[test]
    fn the_relying_party_follows_the_public_url_unless_told() {
        let default = settings(&["--public-url", "https://id.example.com:8443/auth/"]).passkeys;
        assert_eq!(default.rp_id, "id.example.com");
        let origins: Vec<String> = default.origins.iter().map(|o| o.to_string()).collect();
        assert_eq!(origins, ["https://id.example.com:8443/"]);
        assert_eq!(default.rp_name, "Gatehouse");
        let told = settings(&[
            "--webauthn-rp-id",
            "example.com",
            "--webauthn-origins",
            "https://app.example.com,https://example.com",
            "--webauthn-rp-name",
            "Example",
        ])
        .passkeys;
        assert_eq!(told.rp_id, "example.com");
        let origins: Vec<String> = told.origins.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            origins,
            ["https://app.example.com/", "https://example.com/"]
        );
        assert_eq!(told.rp_name, "Example");
        assert!(parse(&["--webauthn-origins", "https://app.example.com/path"]).is_err());
    }

    #[test]
    fn the_app_url_is_an_http_url() {
        let with_app = settings(&["--app-url", "https://app.example.com/sign-in"]);
        assert_eq!(
            with_app.server.app_url.map(|u| u.to_string()).as_deref(),
            Some("https://app.example.com/sign-in")
        );
        assert!(settings(&[]).server.app_url.is_none());
        assert!(parse(&["--app-url", "javascript:alert(1)"]).is_err());
        assert!(parse(&["--app-url", "/relative"]).is_err());
    }

    #[test]
    fn settings_are_typed_once() {
        let settings = settings(&["--access-token-ttl", "60", "--body-limit", "2048"]);
        assert_eq!(settings.tokens.access_ttl, Duration::from_secs(60));
        assert_eq!(settings.tokens.refresh_ttl, Duration::from_secs(2_592_000));
        assert_eq!(settings.server.body_limit, 2048);
        assert!(settings.password_hash_threads >= 1);
        assert_eq!(settings.mail.from.email.to_string(), "no-reply@localhost");
        assert!(parse(&["--body-limit", "12"]).is_err());
        assert!(parse(&["--password-hash-threads", "0"]).is_err());
    }

    #[test]
    fn a_bad_cors_origin_stops_the_start_naming_it() {
        let error = parse(&["--cors-origins", "https://ok.example.com,not an origin"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("cors-origins"), "{error}");
        assert!(error.contains("not an origin"), "{error}");
    }

    #[test]
    fn a_bad_sender_stops_the_start_naming_it() {
        let error = parse(&["--email-from", "not a mailbox"])
            .map(Config::validate)
            .ok()
            .and_then(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.starts_with("EMAIL_FROM"), "{error}");
    }

    #[test]
    fn encryption_keys_need_unique_ids_and_32_bytes() {
        let key = BASE64.encode([7u8; 32]);
        let keys = parse_encryption_keys(&format!("new:{key}, old:{key}")).map(|k| {
            k.expose()
                .0
                .iter()
                .map(|(kid, _)| kid.clone())
                .collect::<Vec<_>>()
        });
        assert_eq!(keys, Ok(vec!["new".to_owned(), "old".to_owned()]));
        assert!(parse_encryption_keys(&format!("a:{key},a:{key}")).is_err());
        assert!(parse_encryption_keys("a:c2hvcnQ=").is_err());
        assert!(parse_encryption_keys(&key).is_err());
        assert!(parse_encryption_keys("").is_err());
    }

    #[test]
    fn limits_read_count_per_period() {
        use std::time::Duration;
        assert_eq!(
            parse_limit("10/1m"),
            Ok(Limit::new(10, Duration::from_secs(60)))
        );
        assert_eq!(
            parse_limit("5/h"),
            Ok(Limit::new(5, Duration::from_secs(3600)))
        );
        assert_eq!(
            parse_limit("600/90s"),
            Ok(Limit::new(600, Duration::from_secs(90)))
        );
        for bad in ["10", "0/1m", "10/0s", "10/1d", "x/1m", "10/m1"] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(settings(&[]).limits, Limits::default());
    }

    #[test]
    fn trusted_proxies_accept_addresses_and_networks() {
        assert_eq!(
            parse_ip_or_cidr("10.0.0.1").map(|n| n.to_string()),
            Ok("10.0.0.1/32".into())
        );
        assert_eq!(
            parse_ip_or_cidr("fd00::/8").map(|n| n.to_string()),
            Ok("fd00::/8".into())
        );
        assert!(parse_ip_or_cidr("10.0.0.0/33").is_err());
    }

    #[test]
    fn origins_must_not_carry_paths() {
        assert_eq!(
            parse_origin("https://app.example.com"),
            Ok("https://app.example.com".into())
        );
        assert!(parse_origin("https://app.example.com/login").is_err());
        assert!(parse_origin("*").is_err());
    }

    #[test]
    fn development_fills_in_missing_keys() {
        let settings = parse(&[]).map(|c| c.validate());
        let Ok(Ok(settings)) = settings else {
            panic!("defaults must validate in development");
        };
        assert_eq!(
            settings.keys.development_defaults,
            ["JWT_SIGNING_KEY_FILE", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY"]
        );
    }

    #[test]
    fn production_refuses_missing_keys() {
        let err = parse(&["--env", "production"])
            .ok()
            .map(|c| c.validate().map(|_| ()));
        let Some(Err(err)) = err else {
            panic!("production without keys must fail");
        };
        assert!(err.to_string().contains("JWT_SIGNING_KEY_FILE is required"));
    }

    #[test]
    fn production_knows_the_development_key_by_its_material_everywhere() {
        /// `openssl pkey -pubout` of the development key.
        const DEV_JWT_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA8WHvVfWjS1qpGKSfq3DHoi+vlGMlJibYF6xu6Qik0Ww=
-----END PUBLIC KEY-----
";
        /// A P-256 public key (of the test key in `tokens`).
        const P256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfhVBr/I3U6i/iOwlPTuxQ9YnbZGJ
IIXh+I+foR+aBGCmCb9vkn/OcLQBrUjq422vZrbaWMHvTs1OS1KBUSfnew==
-----END PUBLIC KEY-----
";
        let dir = std::env::temp_dir().join(format!("gatehouse-cfg-rewrap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        // The same key with its base64 wrapped at 20 characters: other text, same key.
        let body: String = DEV_JWT_SIGNING_KEY_PEM
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let wrapped = body
            .as_bytes()
            .chunks(20)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        let rewrapped =
            format!("-----BEGIN PRIVATE KEY-----\n{wrapped}\n-----END PRIVATE KEY-----\n");
        assert_ne!(rewrapped.trim(), DEV_JWT_SIGNING_KEY_PEM.trim());
        let dev = dir.join("dev-rewrapped.pem");
        std::fs::write(&dev, &rewrapped).ok();
        let own = dir.join("own.pem");
        std::fs::write(&own, OTHER_KEY_PEM).ok();
        let fresh = BASE64.encode([9u8; 32]);
        let enc = format!("k1:{fresh}");
        let (dev, own) = (
            dev.to_string_lossy().to_string(),
            own.to_string_lossy().to_string(),
        );
        let refused = |signing: &str, verify: &str| {
            let mut args = vec![
                "--env",
                "production",
                "--smtp-url",
                "smtp://mail:25",
                "--jwt-signing-key-file",
                signing,
                "--encryption-keys",
                &enc,
                "--blind-index-key",
                &fresh,
            ];
            if !verify.is_empty() {
                args.extend(["--jwt-verify-key-files", verify]);
            }
            let config = parse(&args).unwrap_or_else(|e| panic!("{e}"));
            config.validate().err().map(|e| e.to_string())
        };
        assert_eq!(
            refused(&dev, "").as_deref(),
            Some(
                "JWT_SIGNING_KEY_FILE holds the public development key, refused when GATEHOUSE_ENV=production"
            )
        );
        assert_eq!(
            refused(&own, &dev).as_deref(),
            Some(
                "JWT_VERIFY_KEY_FILES holds the public development key, refused when GATEHOUSE_ENV=production"
            )
        );
        // Its public half alone is the same key.
        let dev_public = dir.join("dev-public.pem");
        std::fs::write(&dev_public, DEV_JWT_PUBLIC_PEM).ok();
        assert_eq!(
            refused(&own, &dev_public.to_string_lossy()).as_deref(),
            Some(
                "JWT_VERIFY_KEY_FILES holds the public development key, refused when GATEHOUSE_ENV=production"
            )
        );
        assert_eq!(refused(&own, ""), None);
        // Another key's public half is a retired signer like any other.
        let other_public = dir.join("other-public.pem");
        std::fs::write(&other_public, P256_PUBLIC_PEM).ok();
        assert_eq!(refused(&own, &other_public.to_string_lossy()), None);
        // Neither private nor public PEM: named.
        let junk = dir.join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .ok();
        let junk = junk.to_string_lossy().to_string();
        assert_eq!(
            refused(&own, &junk),
            Some(format!(
                "JWT_VERIFY_KEY_FILES: {junk} is not a PEM key (-----BEGIN PRIVATE KEY----- or -----BEGIN PUBLIC KEY-----)"
            ))
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn production_refuses_development_keys() {
        let dir = std::env::temp_dir().join(format!("gatehouse-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let dev_key = dir.join("dev.pem");
        std::fs::write(&dev_key, DEV_JWT_SIGNING_KEY_PEM).ok();
        let fresh = BASE64.encode([9u8; 32]);
        let dev_key_arg = dev_key.to_string_lossy().to_string();
        let enc = format!("k1:{fresh}");

        let result = parse(&[
            "--env",
            "production",
            "--jwt-signing-key-file",
            &dev_key_arg,
            "--encryption-keys",
            &enc,
            "--blind-index-key",
            &fresh,
        ])
        .ok()
        .map(|c| c.validate().map(|_| ()));
        let Some(Err(err)) = result else {
            panic!("the development JWT key must be refused");
        };
        assert!(matches!(
            err,
            ConfigError::DevelopmentKeyInProduction("JWT_SIGNING_KEY_FILE")
        ));

        let own_key = dir.join("own.pem");
        std::fs::write(&own_key, OTHER_KEY_PEM).ok();
        let own_key_arg = own_key.to_string_lossy().to_string();
        let real = [
            "--env",
            "production",
            "--jwt-signing-key-file",
            &own_key_arg,
            "--encryption-keys",
            &enc,
            "--blind-index-key",
            &fresh,
        ];
        let result = parse(&real)
            .ok()
            .map(|c| c.validate().map(|s| s.keys.development_defaults.len()));
        assert!(
            matches!(
                &result,
                Some(Err(ConfigError::MissingInProduction("SMTP_URL", _)))
            ),
            "production without SMTP would lose mail: {result:?}"
        );
        let with_smtp: Vec<&str> = real
            .iter()
            .copied()
            .chain(["--smtp-url", "smtp://mail:25"])
            .collect();
        let result = parse(&with_smtp)
            .ok()
            .map(|c| c.validate().map(|s| s.keys.development_defaults.len()));
        assert!(matches!(result, Some(Ok(0))), "real keys must be accepted");

        let result = parse(&[
            "--env",
            "production",
            "--smtp-url",
            "smtp://mail:25",
            "--jwt-signing-key-file",
            &own_key_arg,
            "--encryption-keys",
            DEV_ENCRYPTION_KEYS,
            "--blind-index-key",
            &fresh,
        ])
        .ok()
        .map(|c| c.validate().map(|_| ()));
        assert!(matches!(
            result,
            Some(Err(ConfigError::DevelopmentKeyInProduction(
                "ENCRYPTION_KEYS"
            )))
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bootstrap_admin_needs_both_email_and_password() {
        assert!(parse(&["--bootstrap-admin-email", "a@example.com"]).is_err());
    }

    #[test]
    fn a_bootstrap_admin_breaking_a_rule_is_named_with_the_rule() {
        let refused = |email: &str, password: &str| {
            parse(&[
                "--bootstrap-admin-email",
                email,
                "--bootstrap-admin-password",
                password,
            ])
            .map(Config::validate)
            .ok()
            .and_then(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default()
        };
        assert_eq!(
            refused("root@example.com", "short"),
            "BOOTSTRAP_ADMIN_PASSWORD breaks the password rules: must be at least 10 characters"
        );
        assert_eq!(
            refused("not an address", "a long enough passphrase"),
            "BOOTSTRAP_ADMIN_EMAIL must be a valid email address"
        );
        assert!(
            refused("rootadmin@example.com", "rootadmin passphrase").contains("email"),
            "the local-part rule is named"
        );
        assert_eq!(refused("root@example.com", "a long enough passphrase"), "");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let Ok(config) = parse(&["--database-url", "postgres://u:hunter2@db/x"]) else {
            panic!("valid flags");
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"));
    }
}
