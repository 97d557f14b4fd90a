//! One's own two-step sign-in: enrolling an authenticator app (TOTP), confirming it (which
//! hands out the recovery codes, once), new recovery codes, and switching it off. Each
//! sensitive step re-checks the password like the other changes of one's own account
//! ([`super::reauth`]); a `code` is a current TOTP code or an unused recovery code.

use uuid::Uuid;

use super::reauth::{self, ReauthError};
use crate::db::sessions::{self, EndReason};
use crate::db::{audit, mfa};
use crate::deps::Deps;
use crate::mfa::{self as factors, Judged, TotpSecret};
use crate::model::{Action, Authenticated, Event};
use crate::request::RequestMeta;
use crate::validation::{FieldProblems, Invalid};

/// Why a change to one's own second step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The code is not a current TOTP code nor an unused recovery code.
    #[error("invalid input: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    /// The `current_password` confirming the change did not pass.
    #[error(transparent)]
    Reauth(#[from] ReauthError),
    /// Enrolling while TOTP is on; confirming with nothing pending; removing or
    /// regenerating while TOTP is off.
    #[error("two-step sign-in is not in a state that allows this")]
    Conflict,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn invalid_code() -> MfaError {
    MfaError::Invalid(vec![(
        "code",
        Invalid::new(
            "invalid_code",
            "is not a current authenticator code nor an unused recovery code",
        ),
    )])
}

/// The state of one's second steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_remaining: i64,
    /// Passkeys registered.
    pub passkeys: i64,
}

/// A started enrolment (redacted in `Debug`): what the authenticator app needs.
pub struct Enrolment {
    /// The secret in base32, for typing in.
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment([redacted])")
    }
}

/// New recovery codes, shown once (redacted in `Debug`).
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes([{} redacted])", self.0.len())
    }
}

/// Whether TOTP is on, how many recovery codes are left, and how many passkeys.
pub async fn status(deps: &Deps, caller: &Authenticated) -> Result<MfaStatus, MfaError> {
    let (totp, recovery_codes_remaining, passkeys) = mfa::status(&deps.db, caller.user.id).await?;
    Ok(MfaStatus {
        totp,
        recovery_codes_remaining,
        passkeys,
    })
}

/// Starts (or restarts) an enrolment: a new secret, not active until confirmed.
pub async fn begin(
    deps: &Deps,
    caller: &Authenticated,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<Enrolment, MfaError> {
    reauth::check(deps, caller, current_password, meta).await?;
    let secret = TotpSecret::generate();
    let sealed = factors::seal_secret(&deps.cipher, &secret)?;
    if !mfa::begin_enrolment(&deps.db, caller.user.id, &sealed).await? {
        return Err(MfaError::Conflict);
    }
    let issuer = &deps.settings.tokens.mfa_issuer;
    let otpauth_uri = factors::otpauth_uri(&secret, issuer, &caller.user.email);
    let qr_svg = factors::qr_svg(&otpauth_uri).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Enrolment {
        secret: secret.base32(),
        otpauth_uri,
        qr_svg,
    })
}

/// Confirms the pending enrolment with its first code: TOTP is on, the recovery codes are
/// made (and returned this once), and every other session of the user ends.
pub async fn confirm(
    deps: &Deps,
    caller: &Authenticated,
    code: &str,
    meta: &RequestMeta,
) -> Result<RecoveryCodes, MfaError> {
    let user_id = caller.user.id;
    let Some(stored) = mfa::totp(&deps.db, user_id).await?.filter(|t| !t.confirmed) else {
        return Err(MfaError::Conflict);
    };
    let secret = factors::open_secret(&deps.cipher, &stored.secret)?;
    let Some(step) = factors::matching_step(&secret, code, factors::now(), stored.last_used_step)
    else {
        return Err(invalid_code());
    };
    let codes = factors::new_recovery_codes();
    let hashes = hash_all(deps, user_id, &codes);
    let mut tx = deps.db.begin().await?;
    if !mfa::confirm(&mut *tx, user_id, step).await? {
        // Confirmed meanwhile by a request with the same code, or replaced.
        return Err(MfaError::Conflict);
    }
    mfa::replace_recovery_codes(&mut *tx, user_id, &hashes).await?;
    let ended = sessions::end_all(
        &mut *tx,
        user_id,
        EndReason::MfaEnabled,
        Some(caller.session_id),
    )
    .await?;
    let event = Event::success(Action::UserMfaEnabled, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"method": "totp", "other_sessions_ended": ended}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(RecoveryCodes(codes))
}

/// Switches TOTP off and deletes the recovery codes.
pub async fn disable(
    deps: &Deps,
    caller: &Authenticated,
    current_password: &str,
    code: &str,
    meta: &RequestMeta,
) -> Result<(), MfaError> {
    let user_id = caller.user.id;
    reauth::check(deps, caller, current_password, meta).await?;
    let judged = judge_on(deps, user_id, code).await?;
    let mut tx = deps.db.begin().await?;
    if !mfa::spend(&mut *tx, user_id, &judged).await? {
        return Err(invalid_code());
    }
    mfa::remove(&mut *tx, user_id).await?;
    let event = Event::success(Action::UserMfaDisabled, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"method": "totp", "by": judged.factor()}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the recovery codes; the old set stops working.
pub async fn regenerate(
    deps: &Deps,
    caller: &Authenticated,
    current_password: &str,
    code: &str,
    meta: &RequestMeta,
) -> Result<RecoveryCodes, MfaError> {
    let user_id = caller.user.id;
    reauth::check(deps, caller, current_password, meta).await?;
    let judged = judge_on(deps, user_id, code).await?;
    let codes = factors::new_recovery_codes();
    let hashes = hash_all(deps, user_id, &codes);
    let mut tx = deps.db.begin().await?;
    if !mfa::spend(&mut *tx, user_id, &judged).await? {
        return Err(invalid_code());
    }
    mfa::replace_recovery_codes(&mut *tx, user_id, &hashes).await?;
    let event = Event::success(
        Action::UserRecoveryCodesRegenerated,
        Some(user_id),
        Some(user_id),
        meta,
    )
    .with_details(serde_json::json!({"by": judged.factor()}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(RecoveryCodes(codes))
}

/// Judges `code` for a user whose TOTP must be on (409 otherwise): a matching TOTP step or
/// recovery code, not spent yet; 422 `invalid_code` when it matches neither.
async fn judge_on(deps: &Deps, user_id: Uuid, code: &str) -> Result<Judged, MfaError> {
    let Some(stored) = mfa::totp(&deps.db, user_id).await?.filter(|t| t.confirmed) else {
        return Err(MfaError::Conflict);
    };
    let totp = Some((&stored.secret, stored.last_used_step));
    factors::judge_stored(&deps.cipher, code, totp, &deps.recovery_codes, user_id)?
        .ok_or_else(invalid_code)
}

fn hash_all(deps: &Deps, user_id: Uuid, codes: &[String]) -> Vec<Vec<u8>> {
    codes
        .iter()
        .map(|code| deps.recovery_codes.hash(user_id, code))
        .collect()
}
