//! Two-step sign-in, the mechanism: TOTP codes (RFC 6238: HMAC-SHA-1, 6 digits, 30 s
//! steps, one step of skew either side, no replay of a step at or before the last one
//! accepted), the `otpauth://` URI and its QR code, and single-use recovery codes stored
//! only as a keyed hash. No database and no HTTP: the services store what this returns.

use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use std::fmt;
use totp_rs::{Algorithm, TOTP};

use crate::crypto::{FieldCipher, Purpose, Sealed};

/// How many recovery codes a user is given at a time.
pub const RECOVERY_CODES: usize = 10;
/// Length of a TOTP step in seconds.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a TOTP code.
const DIGITS: usize = 6;
/// Bytes of a new TOTP secret (160 bits, as RFC 4226 recommends).
const SECRET_LEN: usize = 20;
/// Fewest bytes accepted for a stored TOTP secret (128 bits, RFC 4226's minimum).
const MIN_SECRET_LEN: usize = 16;
/// Characters of recovery codes: lowercase Crockford base32 (no i, l, o, u), 5 bits each.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters on either side of a recovery code's hyphen (2 × 5 × 5 = 50 random bits).
const RECOVERY_HALF: usize = 5;
/// Domain label of the recovery-code hash, so that it matches no other use of the key.
const RECOVERY_LABEL: &[u8] = b"gatehouse:recovery-code";

/// Why a secret or a QR code was refused.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("a TOTP secret needs at least {MIN_SECRET_LEN} bytes, got {0}")]
    SecretTooShort(usize),
    #[error("cannot encode the text as a QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
}

/// The shared secret of an authenticator app. `Debug` does not show it.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// A new secret of 160 random bits.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A stored secret; refused if shorter than 16 bytes (128 bits).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, MfaError> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(MfaError::SecretTooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// The raw secret, to be stored (encrypted).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A secret written in base32 (any case, no padding), as [`Self::base32`] writes it;
    /// `None` if it is not base32 of at least 16 bytes.
    pub fn from_base32(text: &str) -> Option<Self> {
        let bytes = totp_rs::Secret::Encoded(text.trim().to_ascii_uppercase())
            .to_bytes()
            .ok()?;
        Self::from_bytes(bytes).ok()
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it typed in.
    pub fn base32(&self) -> String {
        self.totp().get_secret_base32()
    }

    /// The generator: SHA-1, 6 digits, 30 s steps. Built per use so that no copy of the
    /// secret outlives the call (`TOTP` derives a `Debug` that would print it).
    fn totp(&self) -> TOTP {
        // `new_unchecked` skips only the length checks, which `from_bytes` and
        // `generate` already guarantee (and 6 digits is within RFC 4226's 6 to 8).
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECONDS, self.0.clone())
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// Seals a secret for storage with the field cipher (the current key; rotation applies).
pub fn seal_secret(cipher: &FieldCipher, secret: &TotpSecret) -> Result<Sealed, anyhow::Error> {
    Ok(cipher.encrypt(Purpose::TotpSecret, secret.as_bytes())?)
}

/// Opens a stored secret.
pub fn open_secret(cipher: &FieldCipher, sealed: &Sealed) -> Result<TotpSecret, anyhow::Error> {
    let bytes = cipher.decrypt(Purpose::TotpSecret, &sealed.key_id, &sealed.bytes)?;
    Ok(TotpSecret::from_bytes(bytes)?)
}

/// The current time in seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

/// A code found to match one of the user's factors, not spent yet: the database spends it
/// (on condition), so that of two requests with it only one gets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// The TOTP code of this step.
    TotpStep(i64),
    /// The recovery code with this hash.
    RecoveryCode(Vec<u8>),
}

impl Judged {
    /// The factor that was presented.
    pub fn factor(&self) -> Factor {
        match self {
            Self::TotpStep(_) => Factor::Totp,
            Self::RecoveryCode(_) => Factor::RecoveryCode,
        }
    }

    /// How a sign-in completed with it is recorded.
    pub fn login_method(&self) -> LoginMethod {
        match self {
            Self::TotpStep(_) => LoginMethod::PasswordTotp,
            Self::RecoveryCode(_) => LoginMethod::PasswordRecoveryCode,
        }
    }
}

/// Judges `code` as typed: six digits are a TOTP code of `totp` (its secret and last used
/// step) within one step of `now_unix`; anything else is read as a recovery code of
/// `user_id`. `None` when it can match nothing. A recovery code is only hashed here; whether
/// an unused one has that hash is for the database to say.
pub fn judge(
    code: &str,
    totp: Option<(&TotpSecret, Option<i64>)>,
    now_unix: u64,
    hasher: &RecoveryCodeHasher,
    user_id: uuid::Uuid,
) -> Option<Judged> {
    let trimmed = code.trim();
    if trimmed.len() == DIGITS && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let (secret, last_used_step) = totp?;
        return matching_step(secret, trimmed, now_unix, last_used_step).map(Judged::TotpStep);
    }
    let canonical = normalise_recovery_code(trimmed)?;
    Some(Judged::RecoveryCode(hasher.hash(user_id, &canonical)))
}

/// [`judge`] against a stored secret (sealed, with its last used step), opened first.
pub fn judge_stored(
    cipher: &FieldCipher,
    code: &str,
    totp: Option<(&Sealed, Option<i64>)>,
    hasher: &RecoveryCodeHasher,
    user_id: uuid::Uuid,
) -> Result<Option<Judged>, anyhow::Error> {
    let secret = match totp {
        Some((sealed, last_used_step)) => Some((open_secret(cipher, sealed)?, last_used_step)),
        None => None,
    };
    let totp = secret.as_ref().map(|(secret, last)| (secret, *last));
    Ok(judge(code, totp, now(), hasher, user_id))
}

/// The number of the 30 s step that `unix_seconds` falls in.
pub fn step_at(unix_seconds: u64) -> i64 {
    // u64::MAX / 30 fits in an i64, so this never saturates.
    i64::try_from(unix_seconds / STEP_SECONDS).unwrap_or(i64::MAX)
}

/// The 6-digit code of the step that `unix_seconds` falls in.
pub fn code_at(secret: &TotpSecret, unix_seconds: u64) -> String {
    secret.totp().generate(unix_seconds)
}

/// The step whose code `code` is, among the steps before, at and after `now_unix`'s, or
/// `None`. The code must be exactly 6 ASCII digits once trimmed. A matching step at or
/// before `last_used_step` is refused (a replay); the caller stores the step returned as
/// the new last used one, on condition that the stored one is still lower.
pub fn matching_step(
    secret: &TotpSecret,
    code: &str,
    now_unix: u64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim().as_bytes();
    if code.len() != DIGITS || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let totp = secret.totp();
    let now = step_at(now_unix);
    let mut found = None;
    // Every candidate is computed and compared, whichever matches.
    for step in [now - 1, now, now + 1] {
        let Ok(start) = u64::try_from(step) else {
            continue;
        };
        let expected = totp.generate(start.saturating_mul(STEP_SECONDS));
        let matches = constant_time_eq(expected.as_bytes(), code);
        let replayed = last_used_step.is_some_and(|last| step <= last);
        if matches && !replayed {
            found = Some(step);
        }
    }
    found
}

/// Equality of two byte strings of public length without an early exit on the first
/// difference, so that the time taken tells nothing about how much of a code was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// The `otpauth://` URI that authenticator apps read from the QR code:
/// `otpauth://totp/{issuer}:{account}?secret={BASE32}&issuer={issuer}&algorithm=SHA1&digits=6&period=30`,
/// issuer and account percent-encoded (everything but RFC 3986's unreserved characters,
/// so `@` is `%40`, a space `%20`, a colon `%3A`).
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = secret.base32(),
    )
}

/// Percent-encodes every byte of the UTF-8 text except RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The QR code of `text` as an SVG document, black modules on white, at least 200 px
/// square with the quiet zone. It starts with the XML declaration `<?xml`, then `<svg`.
pub fn qr_svg(text: &str) -> Result<String, MfaError> {
    let code = qrcode::QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// Ten new recovery codes, distinct, each `xxxxx-xxxxx` of 50 random bits.
pub fn new_recovery_codes() -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let mut bytes = [0u8; 2 * RECOVERY_HALF];
        OsRng.fill_bytes(&mut bytes);
        let mut code = String::with_capacity(2 * RECOVERY_HALF + 1);
        for (i, byte) in bytes.iter().enumerate() {
            if i == RECOVERY_HALF {
                code.push('-');
            }
            // 32 divides 256: the low five bits of a uniform byte are uniform.
            code.push(char::from(RECOVERY_ALPHABET[usize::from(byte & 31)]));
        }
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// The canonical `xxxxx-xxxxx` form of a recovery code as typed: surrounding space
/// trimmed, any case, the halves joined by one hyphen, by spaces or by nothing, `i` and
/// `l` read as `1` and `o` as `0`. `None` unless that leaves 10 characters of the alphabet.
pub fn normalise_recovery_code(input: &str) -> Option<String> {
    let chars: Vec<char> = input.trim().chars().collect();
    if chars.len() < 2 * RECOVERY_HALF {
        return None;
    }
    let (head, rest) = chars.split_at(RECOVERY_HALF);
    let (middle, tail) = rest.split_at(rest.len() - RECOVERY_HALF);
    let hyphens = middle.iter().filter(|&&c| c == '-').count();
    if hyphens > 1 || !middle.iter().all(|&c| c == '-' || c == ' ') {
        return None;
    }
    let canonical = |c: char| -> Option<char> {
        let c = match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        u8::try_from(c)
            .is_ok_and(|b| RECOVERY_ALPHABET.contains(&b))
            .then_some(c)
    };
    let mut out = String::with_capacity(2 * RECOVERY_HALF + 1);
    for &c in head {
        out.push(canonical(c)?);
    }
    out.push('-');
    for &c in tail {
        out.push(canonical(c)?);
    }
    Some(out)
}

/// Keyed hash of recovery codes: HMAC-SHA256 of a domain label, the user id and the
/// canonical code, so that a stolen table reveals no code and the same code of two users
/// hashes differently. `Debug` does not show the key.
pub struct RecoveryCodeHasher {
    key: [u8; 32],
}

impl RecoveryCodeHasher {
    /// Uses the configured 32-byte key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The hash to store (or look up) for `canonical_code`, the output of
    /// [`normalise_recovery_code`] or [`new_recovery_codes`].
    pub fn hash(&self, user_id: uuid::Uuid, canonical_code: &str) -> Vec<u8> {
        // HMAC pads a key shorter than the hash's block (64 bytes) with zeros, so the padded
        // key gives the same MAC as the 32-byte one, through the constructor that cannot fail.
        let mut block = [0u8; 64];
        block[..self.key.len()].copy_from_slice(&self.key);
        let mut mac = <Hmac<Sha256> as Mac>::new(&block.into());
        mac.update(RECOVERY_LABEL);
        mac.update(user_id.as_bytes());
        mac.update(canonical_code.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for RecoveryCodeHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodeHasher([redacted])")
    }
}

crate::text_enum! {
    /// A second factor, as enrolled or presented.
    pub enum Factor { Totp = "totp", RecoveryCode = "recovery_code" }
}

crate::text_enum! {
    /// How a session was signed in.
    pub enum LoginMethod {
        Password = "password",
        PasswordTotp = "password+totp",
        PasswordRecoveryCode = "password+recovery_code",
        Passkey = "passkey",
    }
}

impl LoginMethod {
    /// The authentication method references of RFC 8176 for the `amr` claim (a recovery
    /// code counts as a one-time password).
    pub const fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::PasswordTotp | Self::PasswordRecoveryCode => &["pwd", "otp"],
            Self::Passkey => &["hwk"],
        }
    }

    /// [`Self::amr`] as the session stores it and its access tokens carry it.
    pub fn amr_claim(self) -> Vec<String> {
        self.amr().iter().map(|m| (*m).to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret of RFC 6238's Appendix B for SHA-1.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    fn in_alphabet(c: u8) -> bool {
        RECOVERY_ALPHABET.contains(&c)
    }

    fn has_recovery_shape(code: &str) -> bool {
        let bytes = code.as_bytes();
        bytes.len() == 11
            && bytes[5] == b'-'
            && bytes[..5].iter().copied().all(in_alphabet)
            && bytes[6..].iter().copied().all(in_alphabet)
    }

    #[test]
    fn codes_match_the_rfc_6238_sha1_vectors() {
        let secret = rfc_secret();
        // Appendix B gives 8 digits; the 6-digit code is their last six.
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(&secret, time), code, "T = {time}");
        }
    }

    #[test]
    fn steps_are_thirty_seconds() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(1_111_111_109), 37_037_036);
        assert_eq!(step_at(u64::MAX), i64::try_from(u64::MAX / 30).unwrap());
    }

    #[test]
    fn one_step_either_side_is_accepted_and_two_are_not() {
        // A fixed secret and time, whose five codes are distinct (checked), so that no
        // chance equality of two codes can make this pass or fail.
        let secret = rfc_secret();
        let t = 1_111_111_111;
        let now = step_at(t);
        let codes: Vec<String> = [t - 60, t - 30, t, t + 30, t + 60]
            .iter()
            .map(|&at| code_at(&secret, at))
            .collect();
        let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), 5);
        assert_eq!(matching_step(&secret, &codes[1], t, None), Some(now - 1));
        assert_eq!(matching_step(&secret, &codes[2], t, None), Some(now));
        assert_eq!(matching_step(&secret, &codes[3], t, None), Some(now + 1));
        assert_eq!(matching_step(&secret, &codes[0], t, None), None);
        assert_eq!(matching_step(&secret, &codes[4], t, None), None);
        // Another secret's current code is not this one's.
        let other = TotpSecret::from_bytes(b"abcdefghijklmnopqrst".to_vec()).unwrap();
        assert_ne!(code_at(&other, t), codes[2]);
        assert_eq!(matching_step(&other, &codes[2], t, None), None);
    }

    #[test]
    fn a_step_at_or_before_the_last_used_one_is_refused() {
        let secret = rfc_secret();
        let t = 1_234_567_890;
        let last = Some(step_at(t));
        assert_eq!(matching_step(&secret, &code_at(&secret, t), t, last), None);
        assert_eq!(
            matching_step(&secret, &code_at(&secret, t - 30), t, last),
            None
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, t + 30), t, last),
            Some(step_at(t) + 1)
        );
        // Without a last step, the same current code is accepted.
        assert_eq!(
            matching_step(&secret, &code_at(&secret, t), t, None),
            Some(step_at(t))
        );
    }

    #[test]
    fn surrounding_space_is_trimmed_and_malformed_codes_are_refused() {
        let secret = rfc_secret();
        let t = 59;
        assert_eq!(matching_step(&secret, " 287082\n", t, None), Some(1));
        for code in [
            "",
            "12345",
            "1234567",
            "12a456",
            "１２３４５６",
            "287 082",
            "+28708",
        ] {
            assert_eq!(matching_step(&secret, code, t, None), None, "{code:?}");
        }
    }

    #[test]
    fn the_first_step_has_no_step_before_it() {
        let secret = rfc_secret();
        assert_eq!(
            matching_step(&secret, &code_at(&secret, 0), 5, None),
            Some(0)
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, 30), 5, None),
            Some(1)
        );
    }

    #[test]
    fn secrets_are_160_bits_and_short_ones_are_refused() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.as_bytes().len(), 20);
        assert_ne!(secret.as_bytes(), TotpSecret::generate().as_bytes());
        assert!(matches!(
            TotpSecret::from_bytes(vec![7; 15]),
            Err(MfaError::SecretTooShort(15))
        ));
        let stored = TotpSecret::from_bytes(vec![7; 16]).unwrap();
        assert_eq!(stored.as_bytes(), &[7; 16]);
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        assert_eq!(rfc_secret().base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        // 16 bytes do not fill the last 40-bit group: no `=` is added.
        let short = TotpSecret::from_bytes(vec![0; 16]).unwrap();
        assert_eq!(short.base32(), "AAAAAAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn otpauth_uri_has_the_fixed_format() {
        assert_eq!(
            otpauth_uri(&rfc_secret(), "Gatehouse", "ada@example.com"),
            "otpauth://totp/Gatehouse:ada%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gatehouse\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn otpauth_uri_encodes_issuer_and_account() {
        assert_eq!(
            otpauth_uri(&rfc_secret(), "Acme: Ops", "a b&c?d/é"),
            "otpauth://totp/Acme%3A%20Ops:a%20b%26c%3Fd%2F%C3%A9\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%3A%20Ops\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn qr_svg_is_an_svg_document_of_its_text() {
        let one = qr_svg("otpauth://totp/Gatehouse:a?secret=AAAA").unwrap();
        let other = qr_svg("otpauth://totp/Gatehouse:b?secret=AAAA").unwrap();
        assert!(one.starts_with("<?xml"));
        assert!(one.contains("<svg"));
        assert!(one.trim_end().ends_with("</svg>"));
        assert!(one.contains("#000000") && one.contains("#ffffff"));
        assert_ne!(one, other);
    }

    #[test]
    fn qr_svg_refuses_text_too_long_for_a_qr_code() {
        assert!(matches!(qr_svg(&"x".repeat(8000)), Err(MfaError::Qr(_))));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_codes_of_the_alphabet() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for code in &codes {
            assert!(has_recovery_shape(code), "{code}");
            assert_eq!(
                normalise_recovery_code(code).as_deref(),
                Some(code.as_str())
            );
        }
        assert_ne!(codes, new_recovery_codes());
    }

    #[test]
    fn recovery_codes_are_read_as_typed() {
        let canonical = Some("0123a-bcdez".to_owned());
        for typed in [
            "0123a-bcdez",
            "  0123A-BCDEZ\n",
            "0123abcdez",
            "0123a bcdez",
            "0123a  -  bcdez",
        ] {
            assert_eq!(normalise_recovery_code(typed), canonical, "{typed:?}");
        }
        // Look-alikes outside the alphabet are read as the digits they resemble.
        for typed in ["O12IA-BCDEZ", "o12la-bcdez", "012LABCDEZ"] {
            assert_eq!(
                normalise_recovery_code(typed).as_deref(),
                Some("0121a-bcdez"),
                "{typed:?}"
            );
        }
        for typed in [
            "",
            "0123a-bcde",
            "0123a-bcdezz",
            "0123a--bcdez",
            "0123a_bcdez",
            "0123u-bcdez",
            "0123a-bcde!",
            "0123a-bcdé1",
            "0123a-bcd\u{212A}1",
            "0123-abcdez",
        ] {
            assert_eq!(normalise_recovery_code(typed), None, "{typed:?}");
        }
    }

    #[test]
    fn recovery_code_hashes_depend_on_user_code_and_key() {
        let hasher = RecoveryCodeHasher::new([1; 32]);
        let ada = uuid::Uuid::from_u128(1);
        let bob = uuid::Uuid::from_u128(2);
        let hash = hasher.hash(ada, "0123a-bcdez");
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, hasher.hash(ada, "0123a-bcdez"));
        assert_ne!(hash, hasher.hash(bob, "0123a-bcdez"));
        assert_ne!(hash, hasher.hash(ada, "0123a-bcdey"));
        assert_ne!(
            hash,
            RecoveryCodeHasher::new([2; 32]).hash(ada, "0123a-bcdez")
        );
    }

    #[test]
    fn recovery_code_hash_is_hmac_sha256_with_the_32_byte_key() {
        let key = [0xA5; 32];
        let user = uuid::Uuid::from_u128(42);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(b"gatehouse:recovery-code");
        mac.update(user.as_bytes());
        mac.update(b"0123a-bcdez");
        let expected = mac.finalize().into_bytes().to_vec();
        assert_eq!(
            RecoveryCodeHasher::new(key).hash(user, "0123a-bcdez"),
            expected
        );
    }

    #[test]
    fn debug_shows_neither_secret_nor_key() {
        let secret = rfc_secret();
        let shown = format!("{secret:?}");
        assert_eq!(shown, "TotpSecret([redacted])");
        assert!(!shown.contains(&secret.base32()));
        assert!(!shown.contains("1234567890"));

        let hasher = RecoveryCodeHasher::new([0xAB; 32]);
        let shown = format!("{hasher:?}");
        assert_eq!(shown, "RecoveryCodeHasher([redacted])");
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn login_methods_name_themselves_and_their_amr() {
        let expected: [(LoginMethod, &str, &[&str]); 4] = [
            (LoginMethod::Password, "password", &["pwd"]),
            (LoginMethod::PasswordTotp, "password+totp", &["pwd", "otp"]),
            (
                LoginMethod::PasswordRecoveryCode,
                "password+recovery_code",
                &["pwd", "otp"],
            ),
            (LoginMethod::Passkey, "passkey", &["hwk"]),
        ];
        for (method, name, amr) in expected {
            assert_eq!(method.as_str(), name);
            assert_eq!(LoginMethod::parse(name), Some(method));
            assert_eq!(method.amr(), amr);
        }
        assert_eq!(Factor::Totp.as_str(), "totp");
        assert_eq!(Factor::RecoveryCode.as_str(), "recovery_code");
    }
}
