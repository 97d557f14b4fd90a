//! Field encryption (AES-256-GCM with key rotation), the blind index for lookups, and the
//! random tokens mailed or handed to clients (only their SHA-256 is ever stored).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

const NONCE_LEN: usize = 12;

/// Field-encryption keys in configuration order; the first one encrypts.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKeys(pub Vec<(String, [u8; 32])>);

impl fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.0.iter().map(|(kid, _)| kid.as_str()).collect();
        f.debug_tuple("EncryptionKeys").field(&kids).finish()
    }
}

/// What a stored ciphertext is for; bound into it as associated data so that a value cannot
/// be moved to another column and still decrypt.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Email,
    Outbox,
    /// A user's TOTP secret.
    TotpSecret,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Email => b"gatehouse:email",
            Self::Outbox => b"gatehouse:outbox",
            Self::TotpSecret => b"gatehouse:totp-secret",
        }
    }
}

/// A value as stored: the id of the key that sealed it and `nonce || ciphertext || tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

/// Why a stored value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no configured encryption key has id `{0}`")]
    UnknownKey(String),
    #[error("stored value failed authentication (wrong key or tampered)")]
    Tampered,
    #[error("encryption failed")]
    Encrypt,
}

/// Encrypts with the first configured key, decrypts with any of them.
pub struct FieldCipher {
    keys: Vec<(String, Aes256Gcm)>,
}

impl FieldCipher {
    /// Builds the cipher from the configured keys (at least one, validated by config).
    pub fn new(keys: &EncryptionKeys) -> Self {
        Self {
            keys: keys
                .0
                .iter()
                .map(|(kid, key)| (kid.clone(), Aes256Gcm::new(key.into())))
                .collect(),
        }
    }

    /// Seals `plaintext` under the current key with a fresh random nonce.
    pub fn encrypt(&self, purpose: Purpose, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let (key_id, cipher) = self.keys.first().ok_or(CryptoError::Encrypt)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.label(),
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: key_id.clone(),
            bytes,
        })
    }

    /// Opens a value sealed by any configured key.
    pub fn decrypt(
        &self,
        purpose: Purpose,
        key_id: &str,
        bytes: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let cipher = self
            .keys
            .iter()
            .find(|(kid, _)| kid == key_id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        if bytes.len() < NONCE_LEN {
            return Err(CryptoError::Tampered);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.label(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    /// Opens a value that must be UTF-8 text.
    pub fn decrypt_string(
        &self,
        purpose: Purpose,
        key_id: &str,
        bytes: &[u8],
    ) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(purpose, key_id, bytes)?).map_err(|_| CryptoError::Tampered)
    }
}

/// Keyed hash of a normalised email address: equality lookups and the uniqueness rule work
/// on it, and without the key it reveals nothing (not even that two databases share users).
pub struct BlindIndex {
    key: [u8; 32],
}

impl BlindIndex {
    /// Uses the configured 32-byte key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// HMAC-SHA256 of `normalised`.
    pub fn compute(&self, normalised: &str) -> Vec<u8> {
        // HMAC accepts keys of any length; this cannot fail for a 32-byte key.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return Sha256::digest(normalised.as_bytes()).to_vec(),
        };
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// A new opaque token of 256 random bits (URL-safe base64) and the hash to store.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// SHA-256 of a token as presented. Tokens carry 256 random bits, so a fast hash is enough:
/// nothing can be guessed from it.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// True when `token` has the shape of one of ours (43 URL-safe base64 characters); lets
/// the service refuse garbage before touching the database.
pub fn looks_like_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &[(&str, u8)]) -> EncryptionKeys {
        EncryptionKeys(
            spec.iter()
                .map(|(kid, b)| ((*kid).to_owned(), [*b; 32]))
                .collect(),
        )
    }

    #[test]
    fn encrypts_with_the_first_key_and_decrypts_with_any() {
        let old = FieldCipher::new(&keys(&[("old", 1)]));
        let sealed_old = old.encrypt(Purpose::Email, b"ada@example.com").ok();
        let rotated = FieldCipher::new(&keys(&[("new", 2), ("old", 1)]));
        let sealed_new = rotated.encrypt(Purpose::Email, b"ada@example.com").ok();

        let Some(sealed_old) = sealed_old else {
            panic!("encrypt")
        };
        let Some(sealed_new) = sealed_new else {
            panic!("encrypt")
        };
        assert_eq!(sealed_old.key_id, "old");
        assert_eq!(sealed_new.key_id, "new");
        for sealed in [&sealed_old, &sealed_new] {
            let plain = rotated
                .decrypt_string(Purpose::Email, &sealed.key_id, &sealed.bytes)
                .ok();
            assert_eq!(plain.as_deref(), Some("ada@example.com"));
        }
        assert!(matches!(
            old.decrypt(Purpose::Email, "new", &sealed_new.bytes),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn same_plaintext_seals_differently_and_tampering_is_detected() {
        let cipher = FieldCipher::new(&keys(&[("k", 3)]));
        let a = cipher.encrypt(Purpose::Email, b"x@y.z").ok();
        let b = cipher.encrypt(Purpose::Email, b"x@y.z").ok();
        let (Some(a), Some(b)) = (a, b) else {
            panic!("encrypt")
        };
        assert_ne!(a.bytes, b.bytes, "fresh nonce each time");

        let mut tampered = a.bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            cipher.decrypt(Purpose::Email, "k", &tampered),
            Err(CryptoError::Tampered)
        ));
        assert!(matches!(
            cipher.decrypt(Purpose::Email, "k", &[1, 2]),
            Err(CryptoError::Tampered)
        ));
        // Bound to its purpose: an email ciphertext does not open as an outbox one.
        assert!(cipher.decrypt(Purpose::Outbox, "k", &a.bytes).is_err());
    }

    #[test]
    fn blind_index_depends_on_the_key() {
        let a = BlindIndex::new([1; 32]);
        let b = BlindIndex::new([2; 32]);
        assert_eq!(a.compute("ada@example.com"), a.compute("ada@example.com"));
        assert_ne!(a.compute("ada@example.com"), b.compute("ada@example.com"));
        assert_ne!(a.compute("ada@example.com"), a.compute("bob@example.com"));
        assert_eq!(a.compute("x").len(), 32);
    }

    #[test]
    fn tokens_carry_256_bits_and_only_their_hash_is_kept() {
        let (token, hash) = new_token();
        let (other, _) = new_token();
        assert_ne!(token, other);
        assert!(looks_like_token(&token), "{token}");
        assert_eq!(hash, hash_token(&token));
        assert_eq!(hash.len(), 32);
        assert!(!looks_like_token("short"));
        assert!(!looks_like_token(&"+".repeat(43)));
    }

    /// Property-based checks of the refresh and one-time token shape check: it is the only
    /// parsing such a token gets before its hash is looked up.
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn url_safe(b: u8) -> bool {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn only_43_url_safe_characters_look_like_a_token(
                token in prop_oneof![any::<String>(), "[A-Za-z0-9_+/=-]{40,46}", "\\PC{43}"],
            ) {
                let expected = token.len() == 43 && token.bytes().all(url_safe);
                prop_assert_eq!(looks_like_token(&token), expected);
            }

            #[test]
            fn issued_tokens_look_like_tokens_and_edits_out_of_the_alphabet_do_not(
                at in 0..43usize,
                c in prop_oneof![Just('+'), Just('/'), Just('='), Just('.'), Just(' '), Just('é'), Just('\0')],
                insert in any::<bool>(),
            ) {
                let (token, hash) = new_token();
                prop_assert!(looks_like_token(&token));
                prop_assert_eq!(URL_SAFE_NO_PAD.decode(&token).map(|b| b.len()), Ok(32));
                prop_assert_eq!(&hash, &hash_token(&token));
                let mut edited: Vec<char> = token.chars().collect();
                if insert {
                    edited.insert(at, c);
                } else {
                    edited[at] = c;
                }
                let edited: String = edited.into_iter().collect();
                prop_assert!(!looks_like_token(&edited));
                prop_assert_ne!(hash_token(&edited), hash);
            }
        }
    }
}
