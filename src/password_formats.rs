//! Password hashes imported from other systems: recognising their format, checking their
//! shape and cost, and verifying a password against them, so that an account moved here
//! keeps its password until the first login rehashes it with the service's own Argon2id.
//!
//! Accepted formats:
//!
//! | scheme | written by | shape |
//! | --- | --- | --- |
//! | `argon2id`, `argon2i`, `argon2d` | argon2-cffi, libargon2, passlib | PHC: `$argon2id$v=19$m=…,t=…,p=…$salt$hash` (no `v=` means version 0x10) |
//! | `scrypt` | passlib | `$scrypt$ln=…,r=…,p=…$salt$hash` |
//! | `pbkdf2_sha256`, `pbkdf2_sha512` | passlib | `$pbkdf2-sha256$rounds$salt$hash` |
//! | `bcrypt` | OpenBSD, py-bcrypt, PHP, passlib | `$2a$`, `$2b$` or `$2y$`, cost, 53 characters |
//! | `django_pbkdf2_sha256`, `django_pbkdf2_sha1` | Django | `pbkdf2_sha256$iterations$salt$base64` |
//! | `django_argon2` | Django | `argon2` followed by an Argon2 PHC string |
//! | `django_bcrypt_sha256` | Django | `bcrypt_sha256$` followed by a bcrypt string |
//!
//! Encodings: PHC strings use unpadded standard base64. passlib's PBKDF2 hashes use its
//! "adapted" base64 (`.` in place of `+`, unpadded), its scrypt hashes unpadded standard
//! base64; both are read with either character. Django's PBKDF2 output is padded standard
//! base64, and its salt is text used as its UTF-8 bytes, not decoded. Django's
//! `bcrypt_sha256` runs bcrypt over the 64 lower-case hex digits of the password's
//! SHA-256, which keeps long passwords from being cut at bcrypt's 72 bytes.
//!
//! # Bounds
//!
//! An imported hash chooses its own cost, and verifying runs that cost on a hashing thread.
//! So that a hash cannot pin a thread for minutes or allocate gigabytes, parsing refuses
//! (with [`FormatError::CostOutOfRange`]) anything outside these bounds:
//!
//! - Argon2: memory `m` at most 262,144 KiB (256 MiB), passes `t` 1 to 20, lanes `p` 1 to 16.
//! - scrypt: `ln` 1 to 20, `r` 1 to 32, `p` 1 to 16, memory `128·r·2^ln` at most 256 MiB,
//!   and the total work `128·r·2^ln·p` at most 1 GiB.
//! - PBKDF2 (passlib and Django): 1 to 10,000,000 iterations (Django's default is 1,000,000).
//! - bcrypt (plain and Django's): cost 4 to 16.
//!
//! Shapes are checked strictly as well ([`FormatError::Malformed`]): every part present,
//! decimal numbers without sign or leading zero, base64 that decodes canonically, salts of
//! 8 to 48 bytes (Argon2) or 1 to 1,024 bytes (scrypt, PBKDF2), outputs of 16 to 64 bytes
//! (Argon2, scrypt) or exactly the digest's size (PBKDF2), and at most 2,048 characters in all.
//!
//! Verification uses the maintained crates (`argon2`, `scrypt`, `pbkdf2`, `bcrypt`) and
//! compares outputs in constant time. It is CPU-heavy and synchronous: callers run it on a
//! hashing thread, as they do [`crate::passwords`]' own hashing.

use std::fmt;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Version};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq as _;

/// Longest hash string accepted, in bytes: room for a 1,024-byte salt in base64.
const MAX_HASH_LEN: usize = 2048;

/// Argon2 bounds: memory in KiB, passes, lanes.
const ARGON2_MAX_MEMORY_KIB: u32 = 256 * 1024;
const ARGON2_MAX_PASSES: u32 = 20;
const ARGON2_MAX_LANES: u32 = 16;

/// scrypt bounds: log2 of N, block size r, parallelism p, memory and total work in bytes.
const SCRYPT_MAX_LN: u64 = 20;
const SCRYPT_MAX_R: u64 = 32;
const SCRYPT_MAX_P: u64 = 16;
const SCRYPT_MAX_MEMORY: u64 = 256 * 1024 * 1024;
const SCRYPT_MAX_WORK: u64 = 1024 * 1024 * 1024;

/// PBKDF2 bound on iterations.
const PBKDF2_MAX_ITERATIONS: u64 = 10_000_000;

/// bcrypt bounds on the cost (log2 of the rounds).
const BCRYPT_MIN_COST: u64 = 4;
const BCRYPT_MAX_COST: u64 = 16;

/// Salt sizes in bytes: Argon2's minimum and the most a PHC salt holds; passlib's maximum.
const ARGON2_MIN_SALT: usize = 8;
const ARGON2_MAX_SALT: usize = 48;
const MAX_SALT: usize = 1024;

/// Output sizes in bytes for the schemes whose output length is chosen by the writer.
const MIN_OUTPUT: usize = 16;
const MAX_OUTPUT: usize = 64;

/// A recognised format, named for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Argon2id,
    Argon2i,
    Argon2d,
    Scrypt,
    Pbkdf2Sha256,
    Pbkdf2Sha512,
    Bcrypt,
    DjangoPbkdf2Sha256,
    DjangoPbkdf2Sha1,
    DjangoArgon2,
    DjangoBcryptSha256,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 11] = [
        Self::Argon2id,
        Self::Argon2i,
        Self::Argon2d,
        Self::Scrypt,
        Self::Pbkdf2Sha256,
        Self::Pbkdf2Sha512,
        Self::Bcrypt,
        Self::DjangoPbkdf2Sha256,
        Self::DjangoPbkdf2Sha1,
        Self::DjangoArgon2,
        Self::DjangoBcryptSha256,
    ];

    /// The stable snake_case name recorded in the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "argon2id",
            Self::Argon2i => "argon2i",
            Self::Argon2d => "argon2d",
            Self::Scrypt => "scrypt",
            Self::Pbkdf2Sha256 => "pbkdf2_sha256",
            Self::Pbkdf2Sha512 => "pbkdf2_sha512",
            Self::Bcrypt => "bcrypt",
            Self::DjangoPbkdf2Sha256 => "django_pbkdf2_sha256",
            Self::DjangoPbkdf2Sha1 => "django_pbkdf2_sha1",
            Self::DjangoArgon2 => "django_argon2",
            Self::DjangoBcryptSha256 => "django_bcrypt_sha256",
        }
    }
}

/// Why a hash was refused: a short message for a field error, which never quotes the hash.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("is not a password hash in a supported format")]
    Unrecognised,
    #[error("is a malformed password hash: {0}")]
    Malformed(&'static str),
    #[error("has a cost outside the accepted range: {0}")]
    CostOutOfRange(&'static str),
}

impl FormatError {
    /// The machine-readable code of the field error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unrecognised => "unrecognised_hash",
            Self::Malformed(_) => "malformed_hash",
            Self::CostOutOfRange(_) => "cost_out_of_range",
        }
    }
}

/// A hash parsed and checked for shape and for cost parameters within bounds.
#[derive(Clone)]
pub struct ParsedHash {
    scheme: Scheme,
    check: Check,
}

/// What verifying a password takes, decoded once at parsing.
#[derive(Clone)]
enum Check {
    Argon2 {
        algorithm: Algorithm,
        version: Version,
        params: argon2::Params,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    Scrypt {
        params: scrypt::Params,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    Pbkdf2 {
        prf: Prf,
        iterations: u32,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    /// A 60-character `$2?$` string, checked by the bcrypt crate; with `sha256_hex`, the
    /// password is first replaced by the hex digits of its SHA-256 (Django).
    Bcrypt { hash: String, sha256_hex: bool },
}

/// The pseudo-random function of a PBKDF2 hash.
#[derive(Clone, Copy)]
enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

impl Prf {
    fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Debug for ParsedHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedHash")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl ParsedHash {
    /// The format the hash was recognised as.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// True when `password` (its UTF-8 bytes, as the other systems hashed them) matches.
    /// CPU-heavy: run it on a hashing thread.
    pub fn verify(&self, password: &[u8]) -> bool {
        match &self.check {
            Check::Argon2 {
                algorithm,
                version,
                params,
                salt,
                expected,
            } => {
                let argon2 = Argon2::new(*algorithm, *version, params.clone());
                let mut output = vec![0u8; expected.len()];
                argon2
                    .hash_password_into(password, salt, &mut output)
                    .is_ok()
                    && bool::from(output.ct_eq(expected))
            }
            Check::Scrypt {
                params,
                salt,
                expected,
            } => {
                let mut output = vec![0u8; expected.len()];
                scrypt::scrypt(password, salt, params, &mut output).is_ok()
                    && bool::from(output.ct_eq(expected))
            }
            Check::Pbkdf2 {
                prf,
                iterations,
                salt,
                expected,
            } => {
                let mut output = vec![0u8; prf.output_len()];
                match prf {
                    Prf::Sha1 => {
                        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, *iterations, &mut output)
                    }
                    Prf::Sha256 => {
                        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, *iterations, &mut output)
                    }
                    Prf::Sha512 => {
                        pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut output)
                    }
                }
                bool::from(output.ct_eq(expected))
            }
            Check::Bcrypt { hash, sha256_hex } => {
                let result = if *sha256_hex {
                    let hex = lower_hex(&Sha256::digest(password));
                    bcrypt::verify(hex.as_bytes(), hash)
                } else {
                    bcrypt::verify(password, hash)
                };
                result.unwrap_or(false)
            }
        }
    }
}

/// Recognises `hash`'s format and checks its shape and costs; see the module's bounds.
pub fn parse(hash: &str) -> Result<ParsedHash, FormatError> {
    let (prefix, _) = hash.split_once('$').ok_or(FormatError::Unrecognised)?;
    if hash.len() > MAX_HASH_LEN {
        return Err(FormatError::Malformed("it is too long"));
    }
    if !hash.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FormatError::Malformed(
            "it has characters other than printable ASCII",
        ));
    }
    if prefix.is_empty() {
        // `$ident$…`: the modular crypt formats.
        let ident = hash[1..].split('$').next().unwrap_or_default();
        match ident {
            "argon2id" | "argon2i" | "argon2d" => {
                parse_argon2(hash).map(|(scheme, check)| ParsedHash { scheme, check })
            }
            "scrypt" => parse_scrypt(hash),
            "pbkdf2-sha256" => parse_passlib_pbkdf2(hash, Prf::Sha256),
            "pbkdf2-sha512" => parse_passlib_pbkdf2(hash, Prf::Sha512),
            "2a" | "2b" | "2y" => Ok(ParsedHash {
                scheme: Scheme::Bcrypt,
                check: parse_bcrypt(hash, false)?,
            }),
            _ => Err(FormatError::Unrecognised),
        }
    } else {
        // `algorithm$…`: Django's formats.
        let rest = &hash[prefix.len()..];
        match prefix {
            "pbkdf2_sha256" => parse_django_pbkdf2(rest, Prf::Sha256),
            "pbkdf2_sha1" => parse_django_pbkdf2(rest, Prf::Sha1),
            "argon2" => {
                let (_, check) = parse_argon2(rest)?;
                Ok(ParsedHash {
                    scheme: Scheme::DjangoArgon2,
                    check,
                })
            }
            "bcrypt_sha256" => Ok(ParsedHash {
                scheme: Scheme::DjangoBcryptSha256,
                // `bcrypt_sha256$$2b$…`: the bcrypt string follows the separator.
                check: parse_bcrypt(&rest[1..], true)?,
            }),
            _ => Err(FormatError::Unrecognised),
        }
    }
}

/// The part of a hash that names its format and cost, before its salt (`$2b$12`,
/// `pbkdf2_sha256$600000`, `$argon2id$v=19$m=65536,t=3,p=4`): hashes of one kind cost the
/// same to check.
pub fn kind(hash: &str) -> &str {
    let bcrypt = hash.starts_with("$2") || hash.starts_with("bcrypt_sha256$");
    let fields_after = if bcrypt { 2 } else { 3 };
    hash.rsplitn(fields_after, '$').last().unwrap_or(hash)
}

/// True when `hash` is Argon2id v=19 (PHC, not Django's prefixed form) with exactly these
/// parameters: for the service's own, no rehash is needed (see `passwords::is_current`).
pub fn is_argon2id_with(hash: &str, memory_kib: u32, iterations: u32, lanes: u32) -> bool {
    match parse(hash) {
        Ok(ParsedHash {
            scheme: Scheme::Argon2id,
            check:
                Check::Argon2 {
                    version: Version::V0x13,
                    params,
                    ..
                },
        }) => {
            params.m_cost() == memory_kib
                && params.t_cost() == iterations
                && params.p_cost() == lanes
        }
        _ => false,
    }
}

/// An Argon2 PHC string: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
fn parse_argon2(phc: &str) -> Result<(Scheme, Check), FormatError> {
    let parsed =
        PasswordHash::new(phc).map_err(|_| FormatError::Malformed("not a valid PHC string"))?;
    let (scheme, algorithm) = match parsed.algorithm.as_str() {
        "argon2id" => (Scheme::Argon2id, Algorithm::Argon2id),
        "argon2i" => (Scheme::Argon2i, Algorithm::Argon2i),
        "argon2d" => (Scheme::Argon2d, Algorithm::Argon2d),
        _ => return Err(FormatError::Unrecognised),
    };
    // The reference implementation reads a string without `v=` as version 0x10.
    let version = match parsed.version {
        None | Some(0x10) => Version::V0x10,
        Some(0x13) => Version::V0x13,
        Some(_) => return Err(FormatError::Malformed("unknown argon2 version")),
    };

    // Exactly m, t and p, in that order, as every Argon2 encoder writes them.
    let mut values = [0u32; 3];
    let mut count = 0;
    for (name, value) in parsed.params.iter() {
        let expected = ["m", "t", "p"].get(count).copied();
        if expected != Some(name.as_str()) {
            return Err(FormatError::Malformed(
                "argon2 parameters must be m, t and p",
            ));
        }
        values[count] = value
            .decimal()
            .map_err(|_| FormatError::Malformed("an argon2 parameter is not a number"))?;
        count += 1;
    }
    if count != 3 {
        return Err(FormatError::Malformed(
            "argon2 parameters must be m, t and p",
        ));
    }
    let [m, t, p] = values;
    if m > ARGON2_MAX_MEMORY_KIB {
        return Err(FormatError::CostOutOfRange(
            "argon2 memory above 262144 KiB",
        ));
    }
    if !(1..=ARGON2_MAX_PASSES).contains(&t) {
        return Err(FormatError::CostOutOfRange("argon2 passes must be 1 to 20"));
    }
    if !(1..=ARGON2_MAX_LANES).contains(&p) {
        return Err(FormatError::CostOutOfRange("argon2 lanes must be 1 to 16"));
    }

    let salt_b64 = parsed
        .salt
        .ok_or(FormatError::Malformed("the salt is missing"))?;
    let mut salt_buf = [0u8; ARGON2_MAX_SALT];
    let salt = salt_b64
        .decode_b64(&mut salt_buf)
        .map_err(|_| FormatError::Malformed("the salt is not valid base64"))?;
    if salt.len() < ARGON2_MIN_SALT {
        return Err(FormatError::Malformed("the salt is shorter than 8 bytes"));
    }
    let expected = parsed
        .hash
        .ok_or(FormatError::Malformed("the hash output is missing"))?;
    let expected = expected.as_bytes();
    if !(MIN_OUTPUT..=MAX_OUTPUT).contains(&expected.len()) {
        return Err(FormatError::Malformed(
            "the hash output must be 16 to 64 bytes",
        ));
    }
    // Also refuses a memory size under 8 KiB per lane.
    let params = argon2::Params::new(m, t, p, Some(expected.len()))
        .map_err(|_| FormatError::Malformed("the argon2 parameters are inconsistent"))?;

    Ok((
        scheme,
        Check::Argon2 {
            algorithm,
            version,
            params,
            salt: salt.to_vec(),
            expected: expected.to_vec(),
        },
    ))
}

/// passlib's scrypt: `$scrypt$ln=…,r=…,p=…$salt$hash`.
fn parse_scrypt(hash: &str) -> Result<ParsedHash, FormatError> {
    let [settings, salt, output] = parts_after(hash, "$scrypt$")?;
    let mut fields = settings.split(',');
    let mut field = |name: &str| {
        fields
            .next()
            .and_then(|field| field.strip_prefix(name))
            .and_then(|value| value.strip_prefix('='))
            .ok_or(FormatError::Malformed(
                "scrypt parameters must be ln, r and p",
            ))
            .and_then(|value| {
                decimal(value).ok_or(FormatError::Malformed("a scrypt parameter is not a number"))
            })
    };
    let (ln, r, p) = (field("ln")?, field("r")?, field("p")?);
    if fields.next().is_some() {
        return Err(FormatError::Malformed(
            "scrypt parameters must be ln, r and p",
        ));
    }
    if !(1..=SCRYPT_MAX_LN).contains(&ln) {
        return Err(FormatError::CostOutOfRange("scrypt ln must be 1 to 20"));
    }
    if !(1..=SCRYPT_MAX_R).contains(&r) {
        return Err(FormatError::CostOutOfRange("scrypt r must be 1 to 32"));
    }
    if !(1..=SCRYPT_MAX_P).contains(&p) {
        return Err(FormatError::CostOutOfRange("scrypt p must be 1 to 16"));
    }
    // ln ≤ 20 and r ≤ 32: no overflow below.
    let memory = 128 * r * (1 << ln);
    if memory > SCRYPT_MAX_MEMORY {
        return Err(FormatError::CostOutOfRange("scrypt memory above 256 MiB"));
    }
    if memory * p > SCRYPT_MAX_WORK {
        return Err(FormatError::CostOutOfRange("scrypt work above 1 GiB"));
    }
    let salt = passlib_b64(salt)?;
    if salt.is_empty() || salt.len() > MAX_SALT {
        return Err(FormatError::Malformed("the salt must be 1 to 1024 bytes"));
    }
    let expected = passlib_b64(output)?;
    if !(MIN_OUTPUT..=MAX_OUTPUT).contains(&expected.len()) {
        return Err(FormatError::Malformed(
            "the hash output must be 16 to 64 bytes",
        ));
    }
    // The bounds above make these fit; the length argument only matters to the PHC API.
    let params = scrypt::Params::new(
        u8::try_from(ln).map_err(|_| FormatError::CostOutOfRange("scrypt ln must be 1 to 20"))?,
        u32::try_from(r).map_err(|_| FormatError::CostOutOfRange("scrypt r must be 1 to 32"))?,
        u32::try_from(p).map_err(|_| FormatError::CostOutOfRange("scrypt p must be 1 to 16"))?,
        expected.len(),
    )
    .map_err(|_| FormatError::Malformed("the scrypt parameters are inconsistent"))?;
    Ok(ParsedHash {
        scheme: Scheme::Scrypt,
        check: Check::Scrypt {
            params,
            salt,
            expected,
        },
    })
}

/// passlib's PBKDF2: `$pbkdf2-sha256$rounds$salt$hash`, salt and hash in adapted base64.
fn parse_passlib_pbkdf2(hash: &str, prf: Prf) -> Result<ParsedHash, FormatError> {
    let (ident, scheme) = match prf {
        Prf::Sha512 => ("$pbkdf2-sha512$", Scheme::Pbkdf2Sha512),
        Prf::Sha256 | Prf::Sha1 => ("$pbkdf2-sha256$", Scheme::Pbkdf2Sha256),
    };
    let [rounds, salt, output] = parts_after(hash, ident)?;
    let iterations = pbkdf2_iterations(rounds)?;
    let salt = passlib_b64(salt)?;
    if salt.is_empty() || salt.len() > MAX_SALT {
        return Err(FormatError::Malformed("the salt must be 1 to 1024 bytes"));
    }
    let expected = passlib_b64(output)?;
    if expected.len() != prf.output_len() {
        return Err(FormatError::Malformed(
            "the hash output is not the digest's size",
        ));
    }
    Ok(ParsedHash {
        scheme,
        check: Check::Pbkdf2 {
            prf,
            iterations,
            salt,
            expected,
        },
    })
}

/// Django's PBKDF2, after its name: `$iterations$salt$base64`, the salt used as text.
fn parse_django_pbkdf2(rest: &str, prf: Prf) -> Result<ParsedHash, FormatError> {
    let scheme = match prf {
        Prf::Sha1 => Scheme::DjangoPbkdf2Sha1,
        Prf::Sha256 | Prf::Sha512 => Scheme::DjangoPbkdf2Sha256,
    };
    let [iterations, salt, output] = parts_after(rest, "$")?;
    let iterations = pbkdf2_iterations(iterations)?;
    if salt.len() > MAX_SALT {
        return Err(FormatError::Malformed("the salt must be 1 to 1024 bytes"));
    }
    let expected = STANDARD
        .decode(output)
        .map_err(|_| FormatError::Malformed("the hash output is not valid base64"))?;
    if expected.len() != prf.output_len() {
        return Err(FormatError::Malformed(
            "the hash output is not the digest's size",
        ));
    }
    Ok(ParsedHash {
        scheme,
        check: Check::Pbkdf2 {
            prf,
            iterations,
            salt: salt.as_bytes().to_vec(),
            expected,
        },
    })
}

/// A bcrypt string: `$2b$12$` and 53 characters of salt and hash.
fn parse_bcrypt(hash: &str, sha256_hex: bool) -> Result<Check, FormatError> {
    let version = hash.get(..4);
    if !matches!(version, Some("$2a$" | "$2b$" | "$2y$")) {
        return Err(if sha256_hex {
            FormatError::Malformed("bcrypt_sha256 must hold a $2a$, $2b$ or $2y$ hash")
        } else {
            FormatError::Unrecognised
        });
    }
    if hash.len() != 60 {
        return Err(FormatError::Malformed("a bcrypt hash has 60 characters"));
    }
    let cost = hash
        .get(4..6)
        .and_then(decimal_digits)
        .filter(|_| hash.get(6..7) == Some("$"))
        .ok_or(FormatError::Malformed("the bcrypt cost is not two digits"))?;
    if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&cost) {
        return Err(FormatError::CostOutOfRange("bcrypt cost must be 4 to 16"));
    }
    hash.parse::<bcrypt::HashParts>()
        .map_err(|_| FormatError::Malformed("the bcrypt salt or hash is not valid"))?;
    Ok(Check::Bcrypt {
        hash: hash.to_owned(),
        sha256_hex,
    })
}

/// The three `$`-separated parts after `ident`; more or fewer is malformed.
fn parts_after<'a>(hash: &'a str, ident: &str) -> Result<[&'a str; 3], FormatError> {
    let rest = hash.strip_prefix(ident).ok_or(FormatError::Unrecognised)?;
    let mut parts = rest.split('$');
    let mut next = || {
        parts
            .next()
            .filter(|part| !part.is_empty())
            .ok_or(FormatError::Malformed("a part is missing"))
    };
    let found = [next()?, next()?, next()?];
    if parts.next().is_some() {
        return Err(FormatError::Malformed("it has too many parts"));
    }
    Ok(found)
}

/// PBKDF2 iterations, within the bounds.
fn pbkdf2_iterations(text: &str) -> Result<u32, FormatError> {
    let iterations = decimal(text).ok_or(FormatError::Malformed(
        "the iteration count is not a number",
    ))?;
    if !(1..=PBKDF2_MAX_ITERATIONS).contains(&iterations) {
        return Err(FormatError::CostOutOfRange(
            "pbkdf2 iterations must be 1 to 10000000",
        ));
    }
    u32::try_from(iterations)
        .map_err(|_| FormatError::CostOutOfRange("pbkdf2 iterations must be 1 to 10000000"))
}

/// A decimal number without sign or leading zero; too many digits read as `u64::MAX`, so
/// that a huge cost is reported as out of range rather than malformed.
fn decimal(text: &str) -> Option<u64> {
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    decimal_digits(text)
}

/// Digits only (leading zeros allowed, as in bcrypt's `04`), saturating at `u64::MAX`.
fn decimal_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

/// passlib's unpadded base64, with `.` or `+` as the 62nd character.
fn passlib_b64(text: &str) -> Result<Vec<u8>, FormatError> {
    STANDARD_NO_PAD
        .decode(text.replace('.', "+"))
        .map_err(|_| FormatError::Malformed("the salt or hash is not valid base64"))
}

/// Lower-case hex digits of `bytes`.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwords::{ITERATIONS, LANES, MEMORY_KIB, is_current};

    /// One entry of tests/fixtures/hashes.json (scripts/make-hash-fixtures writes it).
    #[derive(serde::Deserialize)]
    struct Fixture {
        scheme: String,
        password: String,
        hash: String,
        made_by: String,
        slow: bool,
    }

    const ALL: [Scheme; 11] = [
        Scheme::Argon2id,
        Scheme::Argon2i,
        Scheme::Argon2d,
        Scheme::Scrypt,
        Scheme::Pbkdf2Sha256,
        Scheme::Pbkdf2Sha512,
        Scheme::Bcrypt,
        Scheme::DjangoPbkdf2Sha256,
        Scheme::DjangoPbkdf2Sha1,
        Scheme::DjangoArgon2,
        Scheme::DjangoBcryptSha256,
    ];

    fn fixtures() -> Vec<Fixture> {
        serde_json::from_str(include_str!("../tests/fixtures/hashes.json")).unwrap()
    }

    fn first(scheme: &str) -> Fixture {
        fixtures()
            .into_iter()
            .find(|f| f.scheme == scheme && !f.slow)
            .unwrap()
    }

    fn refused(hash: &str) -> FormatError {
        match parse(hash) {
            Ok(parsed) => panic!("accepted {hash:?} as {parsed:?}"),
            Err(error) => error,
        }
    }

    #[track_caller]
    fn assert_malformed(hash: &str) {
        let error = refused(hash);
        assert!(
            matches!(error, FormatError::Malformed(_)),
            "{hash:?}: {error:?}"
        );
    }

    #[track_caller]
    fn assert_cost_out_of_range(hash: &str) {
        let error = refused(hash);
        assert!(
            matches!(error, FormatError::CostOutOfRange(_)),
            "{hash:?}: {error:?}"
        );
    }

    #[track_caller]
    fn assert_unrecognised(hash: &str) {
        let error = refused(hash);
        assert!(
            matches!(error, FormatError::Unrecognised),
            "{hash:?}: {error:?}"
        );
    }

    #[test]
    fn every_fast_fixture_verifies_its_password_and_no_other() {
        let fixtures = fixtures();
        assert!(fixtures.len() >= 30, "only {} fixtures", fixtures.len());
        for fixture in fixtures.iter().filter(|f| !f.slow) {
            let what = format!("{} by {}", fixture.scheme, fixture.made_by);
            let parsed = parse(&fixture.hash).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(parsed.scheme().name(), fixture.scheme, "{what}");
            assert!(parsed.verify(fixture.password.as_bytes()), "{what}");
            assert!(!parsed.verify(b"not the password"), "{what}");
            assert!(!parsed.verify(b""), "{what}");
            let mut almost = fixture.password.clone();
            almost.push('!');
            assert!(!parsed.verify(almost.as_bytes()), "{what}");
        }
    }

    #[test]
    fn every_slow_fixture_parses_as_its_scheme() {
        let slow: Vec<Fixture> = fixtures().into_iter().filter(|f| f.slow).collect();
        assert!(slow.len() >= 9);
        for fixture in slow {
            let parsed = parse(&fixture.hash)
                .unwrap_or_else(|e| panic!("{} by {}: {e}", fixture.scheme, fixture.made_by));
            assert_eq!(parsed.scheme().name(), fixture.scheme);
        }
    }

    #[test]
    #[ignore = "runs the tools' default costs, seconds each; cargo test -- --ignored"]
    fn every_slow_fixture_verifies_its_password_and_no_other() {
        for fixture in fixtures().iter().filter(|f| f.slow) {
            let what = format!("{} by {}", fixture.scheme, fixture.made_by);
            let parsed = parse(&fixture.hash).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(parsed.verify(fixture.password.as_bytes()), "{what}");
            assert!(!parsed.verify(b"not the password"), "{what}");
        }
    }

    #[test]
    fn the_fixtures_cover_every_scheme_and_bcrypt_prefix() {
        let fixtures = fixtures();
        for scheme in ALL {
            assert!(
                fixtures
                    .iter()
                    .any(|f| !f.slow && f.scheme == scheme.name()),
                "no fast fixture for {scheme:?}"
            );
            assert!(
                fixtures.iter().any(|f| f.slow && f.scheme == scheme.name())
                    || matches!(scheme, Scheme::Argon2i | Scheme::Argon2d),
                "no slow fixture for {scheme:?}"
            );
        }
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            assert!(
                fixtures.iter().any(|f| f.hash.starts_with(prefix)),
                "{prefix}"
            );
        }
        assert!(fixtures.iter().any(|f| !f.password.is_ascii()));
        // The old Argon2 form without `v=` (version 0x10).
        assert!(fixtures.iter().any(|f| f.hash.starts_with("$argon2i$m=")));
    }

    #[test]
    fn scheme_names_are_distinct_snake_case() {
        let mut names: Vec<&str> = ALL.iter().map(|s| s.name()).collect();
        assert!(names.iter().all(|n| {
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn passlib_base64_reads_dot_and_plus_alike() {
        for fixture in fixtures().iter().filter(|f| {
            !f.slow
                && matches!(
                    f.scheme.as_str(),
                    "scrypt" | "pbkdf2_sha256" | "pbkdf2_sha512"
                )
        }) {
            for variant in [
                fixture.hash.replace('.', "+"),
                fixture.hash.replace('+', "."),
            ] {
                let parsed = parse(&variant).unwrap();
                assert!(parsed.verify(fixture.password.as_bytes()), "{variant}");
            }
        }
    }

    #[test]
    fn django_bcrypt_sha256_is_not_cut_at_72_bytes() {
        let long = fixtures()
            .into_iter()
            .find(|f| f.scheme == "django_bcrypt_sha256" && !f.slow && f.password.len() > 72)
            .unwrap();
        let parsed = parse(&long.hash).unwrap();
        assert!(parsed.verify(long.password.as_bytes()));
        assert!(!parsed.verify(&long.password.as_bytes()[..72]));
        // The inner bcrypt string is not a hash of the password itself.
        let inner = parse(long.hash.strip_prefix("bcrypt_sha256$").unwrap()).unwrap();
        assert_eq!(inner.scheme(), Scheme::Bcrypt);
        assert!(!inner.verify(long.password.as_bytes()));
    }

    #[test]
    fn debug_and_errors_never_show_the_hash() {
        let fixture = first("pbkdf2_sha256");
        let secret_part = fixture.hash.rsplit('$').next().unwrap();
        let debug = format!("{:?}", parse(&fixture.hash).unwrap());
        assert_eq!(debug, "ParsedHash { scheme: Pbkdf2Sha256, .. }");
        let broken = format!("{}!", fixture.hash);
        let error = refused(&broken);
        assert!(!error.to_string().contains(secret_part));
        assert!(!format!("{error:?}").contains(secret_part));
    }

    #[test]
    fn error_codes() {
        assert_eq!(FormatError::Unrecognised.code(), "unrecognised_hash");
        assert_eq!(FormatError::Malformed("x").code(), "malformed_hash");
        assert_eq!(FormatError::CostOutOfRange("x").code(), "cost_out_of_range");
    }

    #[test]
    fn unknown_formats_are_unrecognised() {
        for hash in [
            "",
            "plain text password",
            "$",
            "$$",
            "$1$abcdefgh$0123456789012345678901",
            "$md5$rounds=5000$salt$hash",
            "$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D",
            "$2x$04$ZGVmYXVsdHNhbHRzYWx0aOjs6ZJ8NIJkqA6DuDkAiQAtKCOs0N0Wm",
            "$2$04$ZGVmYXVsdHNhbHRzYWx0aOjs6ZJ8NIJkqA6DuDkAiQAtKCOs0N0Wm",
            "$pbkdf2$1000$c2FsdA$aGFzaA",
            "$pbkdf2-sha1$1000$c2FsdA$aGFzaA",
            "$argon2$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "md5$salt$hash",
            "bcrypt$$2b$04$ZGVmYXVsdHNhbHRzYWx0aOjs6ZJ8NIJkqA6DuDkAiQAtKCOs0N0Wm",
            "pbkdf2_sha512$1000$salt$aGFzaA==",
            "sha1$salt$hash",
        ] {
            assert_unrecognised(hash);
        }
    }

    #[test]
    fn bcrypt_shapes_and_costs_are_checked() {
        let good = first("bcrypt").hash;
        assert!(good.starts_with("$2b$04$"));
        // Bad lengths.
        assert_malformed(&good[..59]);
        assert_malformed(&format!("{good}a"));
        assert_malformed("$2b$04$");
        // Costs outside 4..=16, and costs that are not two digits.
        assert_cost_out_of_range(&good.replacen("$04$", "$03$", 1));
        assert_cost_out_of_range(&good.replacen("$04$", "$31$", 1));
        assert_cost_out_of_range(&good.replacen("$04$", "$17$", 1));
        assert!(parse(&good.replacen("$04$", "$16$", 1)).is_ok());
        assert_malformed(&good.replacen("$04$", "$4x$", 1));
        assert_malformed(&good.replacen("$04$", "$-4$", 1));
        // A character outside bcrypt's alphabet.
        let mut bad = good.clone();
        bad.replace_range(20..21, "!");
        assert_malformed(&bad);
        // Django's wrapper holds a bcrypt string and nothing else.
        let django = first("django_bcrypt_sha256").hash;
        assert_cost_out_of_range(&django.replacen("$04$", "$31$", 1));
        assert_malformed(&django[..django.len() - 1]);
        assert_malformed("bcrypt_sha256$");
        assert_malformed(
            "bcrypt_sha256$$2x$04$ZGVmYXVsdHNhbHRzYWx0aOjs6ZJ8NIJkqA6DuDkAiQAtKCOs0N0Wm",
        );
    }

    #[test]
    fn pbkdf2_iterations_and_encodings_are_checked() {
        for hash in [first("pbkdf2_sha256").hash, first("pbkdf2_sha512").hash] {
            let rounds = hash.split('$').nth(2).unwrap().to_owned();
            let with =
                |value: &str| hash.replacen(&format!("${rounds}$"), &format!("${value}$"), 1);
            assert_cost_out_of_range(&with("0"));
            assert_cost_out_of_range(&with("10000001"));
            assert_cost_out_of_range(&with("4294967296"));
            assert_cost_out_of_range(&with("99999999999999999999999999"));
            assert!(parse(&with("10000000")).is_ok());
            assert_malformed(&with("01000"));
            assert_malformed(&with("+1000"));
            assert_malformed(&with("1e3"));
            assert_malformed(&with(""));
            // Bad base64, a missing part, an extra part, a short checksum.
            let salt = hash.split('$').nth(3).unwrap();
            assert_malformed(&hash.replacen(salt, "!!!!", 1));
            assert_malformed(&hash.replacen(salt, "a", 1));
            assert_malformed(&hash[..hash.rfind('$').unwrap()]);
            assert_malformed(&format!("{hash}$"));
            assert_malformed(&format!("{hash}$extra"));
            assert_malformed(&hash[..hash.len() - 4]);
        }
    }

    #[test]
    fn django_pbkdf2_parts_are_checked() {
        for hash in [
            first("django_pbkdf2_sha256").hash,
            first("django_pbkdf2_sha1").hash,
        ] {
            let (name, rest) = hash.split_once('$').unwrap();
            let parts: Vec<&str> = rest.split('$').collect();
            let [iterations, salt, output] = parts[..] else {
                panic!("{hash}")
            };
            let join = |i: &str, s: &str, o: &str| format!("{name}${i}${s}${o}");
            assert!(parse(&join(iterations, salt, output)).is_ok());
            // Missing parts.
            assert_malformed(&format!("{name}$"));
            assert_malformed(&format!("{name}${iterations}"));
            assert_malformed(&format!("{name}${iterations}${salt}"));
            assert_malformed(&join("", salt, output));
            assert_malformed(&join(iterations, "", output));
            assert_malformed(&join(iterations, salt, ""));
            assert_malformed(&format!("{}$more", join(iterations, salt, output)));
            // Iterations.
            assert_cost_out_of_range(&join("0", salt, output));
            assert_cost_out_of_range(&join("20000000", salt, output));
            assert_malformed(&join("2k", salt, output));
            // The output: padded standard base64 of exactly the digest's size.
            assert_malformed(&join(iterations, salt, output.trim_end_matches('=')));
            // passlib's `.` is not part of Django's alphabet.
            assert_malformed(&join(iterations, salt, &format!(".{}", &output[1..])));
            assert_malformed(&join(iterations, salt, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
            // The salt is text, used as it is: another salt is another hash.
            let other = parse(&join(iterations, "anothersalt", output)).unwrap();
            assert!(!other.verify(first(&format!("django_{name}")).password.as_bytes()));
        }
    }

    #[test]
    fn scrypt_costs_and_shape_are_checked() {
        let hash = first("scrypt").hash;
        assert!(hash.starts_with("$scrypt$ln=4,r=8,p=1$"));
        let with = |settings: &str| hash.replacen("ln=4,r=8,p=1", settings, 1);
        assert_cost_out_of_range(&with("ln=30,r=8,p=1"));
        assert_cost_out_of_range(&with("ln=255,r=8,p=1"));
        assert_cost_out_of_range(&with("ln=99999999999999999999,r=8,p=1"));
        assert_cost_out_of_range(&with("ln=0,r=8,p=1"));
        // 128 · 8 · 2^19 = 512 MiB.
        assert_cost_out_of_range(&with("ln=19,r=8,p=1"));
        assert!(parse(&with("ln=18,r=8,p=1")).is_ok());
        // 256 MiB of memory, eight times over.
        assert_cost_out_of_range(&with("ln=18,r=8,p=8"));
        assert_cost_out_of_range(&with("ln=4,r=33,p=1"));
        assert_cost_out_of_range(&with("ln=4,r=8,p=17"));
        assert_cost_out_of_range(&with("ln=4,r=0,p=1"));
        assert_malformed(&with("ln=4,r=8"));
        assert_malformed(&with("ln=4,p=1,r=8"));
        assert_malformed(&with("ln=4,r=8,p=1,x=2"));
        assert_malformed(&with("n=16,r=8,p=1"));
        assert_malformed(&with("ln=4,r=8,p="));
        assert_malformed(&hash[..hash.rfind('$').unwrap()]);
        assert_malformed(&format!("{hash}$"));
        assert_malformed(&hash.replacen("$scrypt$ln", "$scrypt$$ln", 1));
        let output = hash.rsplit('$').next().unwrap();
        assert_malformed(&hash.replacen(output, &output[..output.len() - 1], 1));
        assert_malformed(&hash.replacen(output, "c2hvcnQ", 1));
    }

    #[test]
    fn argon2_costs_and_shape_are_checked() {
        let hash = first("argon2id").hash;
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let with = |settings: &str| hash.replacen("m=64,t=1,p=1", settings, 1);
        assert_cost_out_of_range(&with("m=262145,t=1,p=1"));
        assert_cost_out_of_range(&with("m=4194304,t=1,p=1"));
        assert_cost_out_of_range(&with("m=64,t=21,p=1"));
        assert_cost_out_of_range(&with("m=64,t=0,p=1"));
        assert_cost_out_of_range(&with("m=256,t=1,p=17"));
        assert_cost_out_of_range(&with("m=256,t=1,p=0"));
        assert!(parse(&with("m=262144,t=20,p=16")).is_ok());
        // Under 8 KiB per lane.
        assert_malformed(&with("m=64,t=1,p=9"));
        assert_malformed(&with("m=64,t=1"));
        assert_malformed(&with("t=1,m=64,p=1"));
        assert_malformed(&with("m=64,t=1,p=1,keyid=AAAA"));
        assert_malformed(&with("m=x,t=1,p=1"));
        assert_malformed(&hash.replacen("v=19", "v=18", 1));
        // Truncations.
        assert_malformed(&hash[..hash.rfind('$').unwrap()]);
        assert_malformed(&hash[..hash.find("$m=").unwrap()]);
        assert_malformed("$argon2id$v=19$m=64,t=1,p=1");
        assert_malformed("$argon2id$");
        assert_malformed("$argon2id");
        assert_malformed(&hash[..hash.len() - 20]);
        // Bad base64, a short salt.
        let salt = hash.split('$').nth(4).unwrap();
        assert_malformed(&hash.replacen(salt, "!!!!!!!!!!!!", 1));
        assert_malformed(&hash.replacen(salt, "c2FsdA", 1));
        // The same checks apply inside Django's wrapper.
        let django = first("django_argon2").hash;
        assert_cost_out_of_range(&django.replacen("m=64,", "m=1048576,", 1));
        assert_malformed(&django[..django.rfind('$').unwrap()]);
        assert_unrecognised(&django.replacen("argon2$argon2id", "argon2$scrypt", 1));
    }

    #[test]
    fn overlong_and_non_ascii_strings_are_malformed() {
        let hash = first("pbkdf2_sha256").hash;
        let rounds = hash.split('$').nth(2).unwrap();
        let huge_salt = "A".repeat(3000);
        assert_malformed(&format!("$pbkdf2-sha256${rounds}${huge_salt}$AAAA"));
        assert_malformed(&format!("{hash}é"));
        assert_malformed(&hash.replacen('$', "$ ", 2));
        // Django salts are text: one longer than 1,024 characters is refused.
        let django = first("django_pbkdf2_sha256").hash;
        let parts: Vec<&str> = django.split('$').collect();
        let long_salt = format!(
            "{}${}${}${}",
            parts[0],
            parts[1],
            "s".repeat(1025),
            parts[3]
        );
        assert_malformed(&long_salt);
    }

    /// An Argon2id hash made with the service's own parameters, and a variant with others.
    fn service_hash(memory: u32, passes: u32, algorithm: Algorithm) -> String {
        let params = argon2::Params::new(memory, passes, LANES, Some(32)).unwrap();
        let argon2 = Argon2::new(algorithm, Version::V0x13, params);
        let salt = b"sixteen byte sal";
        let mut output = [0u8; 32];
        argon2
            .hash_password_into(b"the service's password", salt, &mut output)
            .unwrap();
        format!(
            "${}$v=19$m={memory},t={passes},p={LANES}${}${}",
            algorithm.ident(),
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(output)
        )
    }

    #[test]
    fn current_means_argon2id_v19_with_the_service_parameters() {
        let current = service_hash(MEMORY_KIB, ITERATIONS, Algorithm::Argon2id);
        assert!(current.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(is_current(&current));
        let parsed = parse(&current).unwrap();
        assert_eq!(parsed.scheme(), Scheme::Argon2id);
        assert!(parsed.verify(b"the service's password"));
        assert!(!parsed.verify(b"the service's password!"));

        assert!(!is_current(&service_hash(
            MEMORY_KIB + 1,
            ITERATIONS,
            Algorithm::Argon2id
        )));
        assert!(!is_current(&service_hash(
            MEMORY_KIB,
            ITERATIONS + 1,
            Algorithm::Argon2id
        )));
        assert!(!is_current(&service_hash(
            MEMORY_KIB,
            ITERATIONS,
            Algorithm::Argon2i
        )));
        assert!(!is_current(&current.replacen("v=19", "v=16", 1)));
        assert!(!is_current(&current.replacen("p=1$", "p=2$", 1)));
        assert!(!is_current(&format!("argon2{current}")));
        assert!(!is_current(&current[..current.rfind('$').unwrap()]));
        assert!(!is_current(""));
        for fixture in fixtures() {
            assert!(!is_current(&fixture.hash), "{}", fixture.hash);
        }
    }

    #[test]
    fn a_kind_is_the_format_and_cost_without_salt_or_output() {
        for (hash, kind_of_it) in [
            (
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
                "$2b$12",
            ),
            (
                "bcrypt_sha256$$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
                "bcrypt_sha256$$2b$12",
            ),
            (
                "pbkdf2_sha256$600000$c2FsdA$aGFzaA==",
                "pbkdf2_sha256$600000",
            ),
            (
                "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
                "$argon2id$v=19$m=65536,t=3,p=4",
            ),
            (
                "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA",
                "$scrypt$ln=16,r=8,p=1",
            ),
        ] {
            assert_eq!(kind(hash), kind_of_it);
        }
    }
}
