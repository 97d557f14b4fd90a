//! Access tokens: JWTs signed with an asymmetric key (EdDSA or ES256), verified only with
//! the algorithm of the key named by their `kid`, and the JWKS that publishes those keys.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::Role;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The session id: the token lives only as long as this session.
    pub sid: Uuid,
    /// The role when the token was issued; authorization reads the current one.
    pub role: Role,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// How the session was signed in (RFC 8176): `["pwd"]`, `["pwd", "otp"]` or `["hwk"]`.
    /// Tokens issued before it existed carry none.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: i64 = 5;

/// Why a presented token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
}

/// Why a configured key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Tokens already verified, so that a token presented again (the common case: a client uses
/// one access token for its whole lifetime) costs a map lookup instead of a signature
/// check. Only signature-valid tokens enter; expiry is checked again on every hit. Bounded:
/// a full shard is emptied.
struct VerifiedCache {
    shards: Vec<std::sync::Mutex<HashMap<Box<str>, Claims>>>,
}

const CACHE_SHARDS: usize = 16;
const CACHE_PER_SHARD: usize = 8_192;

impl VerifiedCache {
    fn new() -> Self {
        Self {
            shards: (0..CACHE_SHARDS)
                .map(|_| std::sync::Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    fn shard(&self, token: &str) -> &std::sync::Mutex<HashMap<Box<str>, Claims>> {
        // The signature (the token's tail) is random enough to spread tokens evenly.
        let spread = token.bytes().rev().take(8).fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.shards[spread % CACHE_SHARDS]
    }

    fn get(&self, token: &str) -> Option<Claims> {
        self.shard(token).lock().ok()?.get(token).cloned()
    }

    fn put(&self, token: &str, claims: &Claims) {
        if let Ok(mut shard) = self.shard(token).lock() {
            if shard.len() >= CACHE_PER_SHARD {
                shard.clear();
            }
            shard.insert(Box::from(token), claims.clone());
        }
    }
}

/// The signing key, the keys that still verify, and the published JWKS.
pub struct TokenKeys {
    kid: String,
    algorithm: Algorithm,
    signing: EncodingKey,
    verifying: HashMap<String, VerifyingKey>,
    jwks: JwkSet,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
    verified: VerifiedCache,
}

impl TokenKeys {
    /// Loads the signing key (PKCS#8 PEM, Ed25519 or P-256) and the retired keys (the same,
    /// or only their public half as SPKI PEM: a retired key signs nothing more).
    pub fn from_pems(
        signing_pem: &str,
        retired_pems: &[String],
        issuer: &str,
        audience: &str,
        ttl: std::time::Duration,
    ) -> Result<Self, KeyError> {
        let ttl_seconds = i64::try_from(ttl.as_secs())
            .map_err(|_| KeyError(format!("ACCESS_TOKEN_TTL: {ttl:?} is too long")))?;
        let (signing, algorithm, signing_jwk) =
            load_pem(signing_pem).map_err(|e| KeyError(format!("JWT_SIGNING_KEY_FILE: {e}")))?;
        let kid = signing_jwk.common.key_id.clone().unwrap_or_default();
        let mut jwks = vec![signing_jwk];
        for (index, pem) in retired_pems.iter().enumerate() {
            let jwk = public_jwk(pem)
                .map_err(|e| KeyError(format!("JWT_VERIFY_KEY_FILES (key {}): {e}", index + 1)))?;
            if !jwks.iter().any(|k| k.common.key_id == jwk.common.key_id) {
                jwks.push(jwk);
            }
        }
        let mut verifying = HashMap::new();
        for jwk in &jwks {
            let algorithm = match jwk.common.key_algorithm {
                Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
                _ => Algorithm::ES256,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError(e.to_string()))?;
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            verifying.insert(kid, VerifyingKey { algorithm, key });
        }
        Ok(Self {
            kid,
            algorithm,
            signing,
            verifying,
            jwks: JwkSet { keys: jwks },
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_seconds,
            verified: VerifiedCache::new(),
        })
    }

    /// Lifetime of new access tokens, in seconds.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// The algorithm of the signing key.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs a new access token for a session.
    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        role: Role,
        amr: &[String],
    ) -> Result<String, KeyError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            sid: session_id,
            role,
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            jti: Uuid::now_v7(),
            amr: amr.to_vec(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing).map_err(|e| KeyError(e.to_string()))
    }

    /// Verifies signature, algorithm, issuer, audience and times; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            return if claims.exp + LEEWAY_SECONDS > chrono::Utc::now().timestamp() {
                Ok(claims)
            } else {
                Err(TokenError::Expired)
            };
        }
        let claims = self.verify_signed(token)?;
        self.verified.put(token, &claims);
        Ok(claims)
    }

    fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid)?;
        let key = self.verifying.get(kid).ok_or(TokenError::Invalid)?;
        // The key decides the algorithm, never the token: `none`, HMAC (e.g. signed with the
        // public key as a secret) and any other alg than the key's own are refused here.
        if header.alg != key.algorithm {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS as u64;
        jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// The key id (RFC 7638 thumbprint of the public key) of a PEM key, private (PKCS#8) or
/// public (SPKI): the same for a key and its public half, however the PEM is written.
pub fn key_id(pem: &str) -> Result<String, String> {
    public_jwk(pem)?
        .common
        .key_id
        .ok_or_else(|| "the key has no thumbprint".to_owned())
}

/// A public JWK as the JWKS publishes it: its RFC 7638 thumbprint as `kid`, for signing.
fn published(mut jwk: Jwk) -> Result<Jwk, String> {
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(kid);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// The header of a public key in SPKI PEM.
const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----";

/// The public JWK (with its thumbprint as `kid`) of a PEM key: a PKCS#8 private key, or an
/// SPKI public key (Ed25519 or P-256).
fn public_jwk(pem: &str) -> Result<Jwk, String> {
    if !pem.trim_start().starts_with(PUBLIC_PEM) {
        return load_pem(pem).map(|(_, _, jwk)| jwk);
    }
    const NOT_PUBLIC: &str = "not an Ed25519 or P-256 public key in SPKI PEM";
    let (key, algorithm) = match DecodingKey::from_ed_pem(pem.as_bytes()) {
        Ok(key) => (key, Algorithm::EdDSA),
        Err(_) => match DecodingKey::from_ec_pem(pem.as_bytes()) {
            Ok(key) => (key, Algorithm::ES256),
            Err(_) => return Err(NOT_PUBLIC.into()),
        },
    };
    let jwk = Jwk::from_decoding_key(&key, Some(algorithm)).map_err(|_| NOT_PUBLIC)?;
    if let jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm
        && ec.curve != jsonwebtoken::jwk::EllipticCurve::P256
    {
        return Err(NOT_PUBLIC.into());
    }
    let jwk = published(jwk)?;
    // The key must be usable for verifying, checked now rather than at the first token.
    DecodingKey::from_jwk(&jwk).map_err(|e| format!("{NOT_PUBLIC}: {e}"))?;
    Ok(jwk)
}

/// Parses a PKCS#8 PEM private key; returns it with its algorithm and public JWK, whose
/// `kid` is the RFC 7638 thumbprint (stable, derived from the key itself).
fn load_pem(pem: &str) -> Result<(EncodingKey, Algorithm, Jwk), String> {
    let (key, algorithm) = match EncodingKey::from_ed_pem(pem.as_bytes()) {
        Ok(key) => (key, Algorithm::EdDSA),
        Err(_) => match EncodingKey::from_ec_pem(pem.as_bytes()) {
            Ok(key) => (key, Algorithm::ES256),
            Err(_) => return Err("not an Ed25519 or P-256 private key in PKCS#8 PEM".into()),
        },
    };
    let jwk = Jwk::from_encoding_key(&key, algorithm)
        .map_err(|_| "not an Ed25519 or P-256 private key in PKCS#8 PEM".to_owned())
        .and_then(published)?;
    // Check the pair once now, so a broken key fails at start rather than at first login.
    let probe = jsonwebtoken::encode(&Header::new(algorithm), &serde_json::json!({}), &key)
        .map_err(|e| format!("cannot sign with this key: {e}"))?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(&probe, &decoding, &validation)
        .map_err(|e| format!("the key does not verify its own signature: {e}"))?;
    Ok((key, algorithm, jwk))
}

/// A new Ed25519 private key as PKCS#8 PEM (what `gatehouse keys generate` writes).
pub fn generate_ed25519_pem() -> String {
    use rand::RngCore;
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed 16-byte prefix, then the seed.
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    der.extend_from_slice(&seed);
    let body = STANDARD.encode(&der);
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEV_JWT_SIGNING_KEY_PEM;

    const P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5ZAjkEyL8VS7gtOH
Y/MWUWp7T3ygWMbNVmz8xZapIkuhRANCAAR+FUGv8jdTqL+I7CU9O7FD1idtkYkg
heH4j5+hH5oEYKYJv2+Sf85wtAGtSOrjba9mttpYwe9OzU5LUoFRJ+d7
-----END PRIVATE KEY-----
";

    fn pwd() -> Vec<String> {
        vec!["pwd".to_owned()]
    }

    fn keys(signing: &str, retired: &[String]) -> TokenKeys {
        TokenKeys::from_pems(
            signing,
            retired,
            "gatehouse",
            "gatehouse",
            std::time::Duration::from_secs(900),
        )
        .unwrap_or_else(|e| panic!("keys: {e}"))
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_contract_claims() {
        let keys = keys(DEV_JWT_SIGNING_KEY_PEM, &[]);
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let token = keys
            .issue(user, session, Role::Manager, &pwd())
            .unwrap_or_default();
        let claims = keys.verify(&token);
        let Ok(claims) = claims else {
            panic!("verify: {claims:?}")
        };
        assert_eq!(
            (claims.sub, claims.sid, claims.role),
            (user, session, Role::Manager)
        );
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.amr, ["pwd"]);
        assert_eq!(claims.iss, "gatehouse");
        let header = jsonwebtoken::decode_header(&token).ok();
        assert_eq!(header.as_ref().map(|h| h.alg), Some(Algorithm::EdDSA));
        assert_eq!(
            header.and_then(|h| h.kid),
            keys.jwks().keys[0].common.key_id.clone()
        );
    }

    /// `openssl pkey -pubout` of `P256_PEM`.
    const P256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfhVBr/I3U6i/iOwlPTuxQ9YnbZGJ
IIXh+I+foR+aBGCmCb9vkn/OcLQBrUjq422vZrbaWMHvTs1OS1KBUSfnew==
-----END PUBLIC KEY-----
";

    /// `openssl pkey -pubout` of the development key.
    const DEV_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA8WHvVfWjS1qpGKSfq3DHoi+vlGMlJibYF6xu6Qik0Ww=
-----END PUBLIC KEY-----
";

    #[test]
    fn a_retired_signer_may_be_given_by_its_public_key_alone() {
        for (private, public) in [
            (P256_PEM, P256_PUBLIC_PEM),
            (DEV_JWT_SIGNING_KEY_PEM, DEV_PUBLIC_PEM),
        ] {
            assert_eq!(
                key_id(public),
                key_id(private),
                "the same kid for both halves"
            );
            let old = keys(private, &[]);
            let token = old
                .issue(Uuid::now_v7(), Uuid::now_v7(), Role::User, &pwd())
                .unwrap_or_default();
            let other = generate_ed25519_pem();
            let rotated = keys(&other, &[public.to_owned()]);
            assert!(
                rotated.verify(&token).is_ok(),
                "a token of the retired key verifies"
            );
            assert_eq!(rotated.jwks().keys.len(), 2);
            assert_eq!(
                rotated.jwks().keys[1],
                old.jwks().keys[0],
                "published as before"
            );
        }
        let broken = P256_PUBLIC_PEM.replace("MFkw", "MFkX");
        let refused = TokenKeys::from_pems(
            DEV_JWT_SIGNING_KEY_PEM,
            &[broken],
            "gatehouse",
            "gatehouse",
            std::time::Duration::from_secs(900),
        );
        assert!(refused.is_err());
    }

    #[test]
    fn p256_keys_sign_es256() {
        let keys = keys(P256_PEM, &[]);
        assert_eq!(keys.algorithm(), Algorithm::ES256);
        let token = keys
            .issue(Uuid::now_v7(), Uuid::now_v7(), Role::User, &pwd())
            .unwrap_or_default();
        assert!(keys.verify(&token).is_ok());
    }

    #[test]
    fn retired_keys_still_verify_and_stay_published() {
        let old = keys(P256_PEM, &[]);
        let token = old
            .issue(Uuid::now_v7(), Uuid::now_v7(), Role::User, &pwd())
            .unwrap_or_default();
        let rotated = keys(DEV_JWT_SIGNING_KEY_PEM, &[P256_PEM.to_owned()]);
        assert!(rotated.verify(&token).is_ok());
        assert_eq!(rotated.jwks().keys.len(), 2);
        let without = keys(DEV_JWT_SIGNING_KEY_PEM, &[]);
        assert_eq!(
            without.verify(&token),
            Err(TokenError::Invalid),
            "unknown kid"
        );
    }

    #[test]
    fn other_issuers_audiences_and_expired_tokens_are_refused() {
        let ours = keys(DEV_JWT_SIGNING_KEY_PEM, &[]);
        let other_aud = TokenKeys::from_pems(
            DEV_JWT_SIGNING_KEY_PEM,
            &[],
            "gatehouse",
            "billing",
            std::time::Duration::from_secs(900),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let token = other_aud
            .issue(Uuid::now_v7(), Uuid::now_v7(), Role::User, &pwd())
            .unwrap_or_default();
        assert_eq!(ours.verify(&token), Err(TokenError::Invalid));

        let header = {
            let mut h = Header::new(Algorithm::EdDSA);
            h.kid = ours.jwks().keys[0].common.key_id.clone();
            h
        };
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"iss": "gatehouse", "aud": "gatehouse", "sub": Uuid::now_v7(),
            "sid": Uuid::now_v7(), "role": "user", "iat": now - 1000, "nbf": now - 1000, "exp": now - 100,
            "jti": Uuid::now_v7()});
        let expired = jsonwebtoken::encode(&header, &claims, &ours.signing).unwrap_or_default();
        assert_eq!(ours.verify(&expired), Err(TokenError::Expired));
    }

    #[test]
    fn cached_tokens_still_expire() {
        let keys = keys(DEV_JWT_SIGNING_KEY_PEM, &[]);
        let token = keys
            .issue(Uuid::now_v7(), Uuid::now_v7(), Role::User, &pwd())
            .unwrap_or_default();
        assert!(keys.verify(&token).is_ok());
        assert!(keys.verify(&token).is_ok(), "served from the cache");
        let Some(mut claims) = keys.verified.get(&token) else {
            panic!("cached")
        };
        claims.exp = chrono::Utc::now().timestamp() - 60;
        keys.verified.put(&token, &claims);
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
        assert_eq!(
            keys.verify("not.a.token"),
            Err(TokenError::Invalid),
            "failures are not cached"
        );
    }

    #[test]
    fn garbage_keys_are_refused_with_a_message() {
        let err = TokenKeys::from_pems(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            &[],
            "i",
            "a",
            std::time::Duration::from_secs(60),
        );
        assert!(err.is_err());
    }

    #[test]
    fn generated_keys_load() {
        let pem = generate_ed25519_pem();
        let generated = keys(&pem, &[]);
        assert_eq!(generated.algorithm(), Algorithm::EdDSA);
        assert_ne!(pem, generate_ed25519_pem());
    }

    /// Property-based checks: nothing but a genuinely issued token verifies, and no input
    /// makes `verify` panic.
    mod props {
        use super::*;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use proptest::prelude::*;
        use serde_json::{Value, json};
        use std::sync::LazyLock;

        /// Signs with the development Ed25519 key; the P-256 key is retired but verifies.
        static KEYS: LazyLock<TokenKeys> =
            LazyLock::new(|| keys(DEV_JWT_SIGNING_KEY_PEM, &[P256_PEM.to_owned()]));
        /// A token of each algorithm, genuinely issued.
        static GENUINE: LazyLock<[String; 2]> = LazyLock::new(|| {
            let es256 = keys(P256_PEM, &[]);
            let issue = |keys: &TokenKeys| {
                keys.issue(Uuid::now_v7(), Uuid::now_v7(), Role::Admin, &pwd())
                    .unwrap_or_else(|e| panic!("issue: {e}"))
            };
            [issue(&KEYS), issue(&es256)]
        });

        fn kids() -> Vec<String> {
            KEYS.jwks()
                .keys
                .iter()
                .filter_map(|k| k.common.key_id.clone())
                .collect()
        }

        fn b64(bytes: &[u8]) -> String {
            URL_SAFE_NO_PAD.encode(bytes)
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                ".{0,8}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec(("[a-z]{1,4}", inner), 0..4)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                ]
            })
        }

        /// Headers naming our keys or not, with every kind of `alg`.
        fn header() -> impl Strategy<Value = Value> {
            let alg = prop_oneof![
                prop::sample::select(vec![
                    "EdDSA", "ES256", "none", "None", "HS256", "HS512", "RS256", "PS256", "ES384",
                    "",
                ])
                .prop_map(Value::from),
                json_value(),
            ];
            let kid = prop_oneof![
                prop::sample::select(kids()).prop_map(Value::from),
                json_value(),
            ];
            (alg, kid, any::<bool>(), json_value()).prop_map(|(alg, kid, typ, extra)| {
                let mut header = json!({"alg": alg, "kid": kid});
                if typ {
                    header["typ"] = json!("JWT");
                }
                if let (Value::Object(header), Value::Object(extra)) = (&mut header, extra) {
                    for (key, value) in extra {
                        header.entry(key).or_insert(value);
                    }
                }
                header
            })
        }

        /// Claims that would pass every check but the signature, or any JSON at all.
        fn claims() -> impl Strategy<Value = Value> {
            let now = chrono::Utc::now().timestamp();
            let plausible =
                prop::sample::select(vec!["user", "manager", "admin"]).prop_map(move |role| {
                    json!({"iss": "gatehouse", "aud": "gatehouse", "sub": Uuid::now_v7(),
                        "sid": Uuid::now_v7(), "role": role, "iat": now, "nbf": now,
                        "exp": now + 600, "jti": Uuid::now_v7()})
                });
            prop_oneof![plausible, json_value()]
        }

        /// A signature segment: random, empty, or lifted from a genuine token.
        fn signature() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| b64(&b)),
                Just(String::new()),
                (0..2usize)
                    .prop_map(|i| { GENUINE[i].rsplit('.').next().unwrap_or_default().to_owned() }),
            ]
        }

        /// One edit of a token: replace, insert or delete the character at a position.
        #[derive(Debug, Clone)]
        enum Edit {
            Replace(usize, char),
            Insert(usize, char),
            Delete(usize),
        }

        fn edit() -> impl Strategy<Value = Edit> {
            let c = prop_oneof![
                4 => prop::sample::select(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars().collect::<Vec<_>>()
                ),
                1 => prop::sample::select(vec!['.', '=', '+', '/', ' ', '\n', '\0', 'é']),
            ];
            prop_oneof![
                (any::<usize>(), c.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
                (any::<usize>(), c).prop_map(|(i, c)| Edit::Insert(i, c)),
                any::<usize>().prop_map(Edit::Delete),
            ]
        }

        fn edited(token: &str, edit: &Edit) -> String {
            let mut chars: Vec<char> = token.chars().collect();
            match *edit {
                Edit::Replace(i, c) => {
                    let i = i % chars.len();
                    // Replacing a character by itself is no edit: take the next one.
                    chars[i] = match (chars[i] == c, c == 'A') {
                        (false, _) => c,
                        (true, false) => 'A',
                        (true, true) => 'B',
                    };
                }
                Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
                Edit::Delete(i) => {
                    chars.remove(i % chars.len());
                }
            }
            chars.into_iter().collect()
        }

        fn genuine_tokens_still_verify() -> Result<(), TestCaseError> {
            for token in GENUINE.iter() {
                prop_assert!(KEYS.verify(token).is_ok(), "genuine token refused");
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_strings_are_refused(token in prop_oneof![any::<String>(), "[A-Za-z0-9_.=-]{0,120}"]) {
                prop_assert!(KEYS.verify(&token).is_err());
            }

            #[test]
            fn arbitrary_three_part_base64url_is_refused(
                parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..96), 3),
            ) {
                let token = parts.iter().map(|p| b64(p)).collect::<Vec<_>>().join(".");
                prop_assert!(KEYS.verify(&token).is_err());
            }

            #[test]
            fn unsigned_headers_and_claims_are_refused(
                header in header(),
                claims in claims(),
                signature in signature(),
            ) {
                let token = format!("{}.{}.{signature}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
                prop_assert!(KEYS.verify(&token).is_err(), "{} {}", header, claims);
                genuine_tokens_still_verify()?;
            }

            /// Algorithm confusion: HMAC keyed with our public key, or a key of the caller's
            /// own (even one embedded in the header), under our `kid`.
            #[test]
            fn tokens_signed_with_other_keys_are_refused(
                kid in prop::sample::select(kids()),
                claims in claims(),
                secret in 0..3u8,
                embed in any::<bool>(),
            ) {
                let public = serde_json::to_value(KEYS.jwks()).unwrap_or_default();
                let x = public["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
                let hmac = match secret {
                    0 => x.into_bytes(),
                    1 => URL_SAFE_NO_PAD.decode(x).unwrap_or_default(),
                    _ => public.to_string().into_bytes(),
                };
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(kid.clone());
                let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&hmac));
                prop_assert!(forged.is_ok_and(|t| KEYS.verify(&t).is_err()));

                let theirs = keys(&generate_ed25519_pem(), &[]);
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(kid);
                if embed {
                    header.jwk = theirs.jwks().keys.first().cloned();
                }
                let forged = jsonwebtoken::encode(&header, &claims, &theirs.signing);
                prop_assert!(forged.is_ok_and(|t| KEYS.verify(&t).is_err()));
            }

            #[test]
            fn any_single_edit_of_a_genuine_token_is_refused(which in 0..2usize, edit in edit()) {
                let token = &GENUINE[which];
                let edited = edited(token, &edit);
                prop_assert_ne!(&edited, token);
                prop_assert!(KEYS.verify(&edited).is_err(), "{:?} accepted", edit);
                genuine_tokens_still_verify()?;
            }
        }
    }
}
