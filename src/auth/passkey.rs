//! Signing in with a passkey: a discoverable credential, so no email is asked. The options
//! keep their state server-side as a challenge (five minutes, single use, spent by the
//! answer whatever its outcome); the answer names its credential and user, which one query
//! reads with the challenge; `webauthn-rs` checks origin, RP ID, challenge, user
//! verification, signature and counter; then one statement spends the challenge, records
//! the use and opens the session, and a refused answer spends the challenge with its audit
//! event. A passkey proves possession and user verification: no second step is asked,
//! and the access tokens say `amr: ["hwk"]`.

use serde_json::Value;
use uuid::Uuid;

use super::AuthError;
use super::login::{self, Opened, TokenPair};
use crate::crypto;
use crate::db::audit;
use crate::db::passkeys::{self, Ceremony, Recorded, VerifiedUse};
use crate::db::sessions::NewSession;
use crate::deps::Deps;
use crate::mfa::LoginMethod;
use crate::model::{Action, Event, Status};
use crate::passkeys::{CEREMONY_LIFETIME, RelyingParty};
use crate::request::RequestMeta;
use crate::validation::Invalid;

/// The options of a sign-in: the challenge to answer, and what the browser's
/// `navigator.credentials.get()` takes.
#[derive(Debug)]
pub struct SignInOptions {
    pub challenge_id: Uuid,
    pub public_key: Value,
}

fn relying_party(deps: &Deps) -> Result<&RelyingParty, AuthError> {
    deps.passkeys.as_ref().ok_or(AuthError::PasskeysOff)
}

/// Starts a sign-in. Earlier pending sign-ins stay valid.
pub async fn options(deps: &Deps) -> Result<SignInOptions, AuthError> {
    let ceremony = relying_party(deps)?.start_sign_in()?;
    let challenge_id = Uuid::new_v4();
    passkeys::create_challenge(
        &deps.db,
        challenge_id,
        Ceremony::SignIn,
        None,
        &ceremony.state,
        CEREMONY_LIFETIME,
    )
    .await?;
    Ok(SignInOptions {
        challenge_id,
        public_key: ceremony.public_key,
    })
}

/// Signs in with the browser's answer (`PublicKeyCredential.toJSON()`) to the challenge
/// `challenge_id`. Anything wrong with the challenge, the credential or its checks is 401
/// `invalid_credentials`, audited with its reason; a deactivated or unverified user is
/// refused as at login.
pub async fn sign_in(
    deps: &Deps,
    challenge_id: Uuid,
    credential: &Value,
    meta: &RequestMeta,
) -> Result<TokenPair, AuthError> {
    let rp = relying_party(deps)?;
    let assertion = rp.identify(credential).map_err(|refusal| {
        AuthError::Invalid(vec![(
            "credential",
            Invalid::new("invalid_credential", refusal.to_string()),
        )])
    })?;
    let found = passkeys::find_sign_in(&deps.db, challenge_id, &assertion.credential_id).await?;
    // A credential counts only for the user its authenticator names.
    let stored = found
        .credential
        .filter(|stored| stored.user_id == assertion.user_id);
    let target = stored.as_ref().map(|stored| stored.user_id);
    let Some(state) = found.state else {
        return Err(refuse(deps, challenge_id, target, "challenge", meta).await?);
    };
    let Some(stored) = stored else {
        return Err(refuse(deps, challenge_id, None, "unknown_credential", meta).await?);
    };
    let verified = match rp.finish_sign_in(&assertion, state, &stored.credential)? {
        Ok(verified) => verified,
        Err(refusal) => {
            return Err(refuse(deps, challenge_id, target, refusal.reason(), meta).await?);
        }
    };
    let refusal = match stored.user_status {
        Status::Active => None,
        Status::Deactivated => Some(("account_deactivated", AuthError::AccountDeactivated)),
        Status::PendingVerification => Some(("email_not_verified", AuthError::EmailNotVerified)),
    };
    if let Some((reason, error)) = refusal {
        discard_and_audit(deps, challenge_id, &failure(target, target, reason, meta)).await?;
        return Err(error);
    }

    let user_id = stored.user_id;
    let method = LoginMethod::Passkey;
    let amr = method.amr_claim();
    let session_id = Uuid::now_v7();
    let (refresh_token, refresh_hash) = crypto::new_token();
    let session = NewSession {
        id: session_id,
        ttl: deps.settings.tokens.refresh_ttl,
        amr: &amr,
        refresh_hash: &refresh_hash,
    };
    let used = VerifiedUse {
        id: stored.id,
        credential: verified.credential.as_ref(),
        sign_count: verified.sign_count,
    };
    let event = login::login_event(user_id, session_id, method, meta);
    let recorded =
        passkeys::record_sign_in(&deps.db, challenge_id, &used, &session, &event).await?;
    let reason = match recorded {
        Recorded::Opened => None,
        // Another answer took the challenge first.
        Recorded::ChallengeGone => Some("challenge"),
        // Another sign-in with this counter value won the race: a clone, or a replay.
        Recorded::CounterNotAbove => Some("counter"),
    };
    if let Some(reason) = reason {
        audit::insert(&deps.db, &failure(None, target, reason, meta)).await?;
        return Err(AuthError::InvalidCredentials);
    }
    let opened = Opened {
        session_id,
        refresh_token,
        amr,
    };
    login::pair(deps, user_id, stored.user_role, opened)
}

/// The `auth.login` failure of a passkey sign-in.
fn failure<'m>(
    actor: Option<Uuid>,
    target: Option<Uuid>,
    reason: &str,
    meta: &'m RequestMeta,
) -> Event<'m> {
    Event::failure(Action::AuthLogin, actor, target, meta).with_details(
        serde_json::json!({"method": LoginMethod::Passkey.as_str(), "reason": reason}),
    )
}

/// Spends the challenge of a refused sign-in and audits the refusal (made by someone
/// unknown: the account is only the target); gives its error.
async fn refuse(
    deps: &Deps,
    challenge_id: Uuid,
    target: Option<Uuid>,
    reason: &str,
    meta: &RequestMeta,
) -> Result<AuthError, AuthError> {
    discard_and_audit(deps, challenge_id, &failure(None, target, reason, meta)).await?;
    Ok(AuthError::InvalidCredentials)
}

/// Spends a sign-in challenge and writes the refusal's event, together.
async fn discard_and_audit(
    deps: &Deps,
    challenge_id: Uuid,
    event: &Event<'_>,
) -> Result<(), AuthError> {
    let mut tx = deps.db.begin().await?;
    passkeys::discard_challenge(&mut *tx, challenge_id).await?;
    audit::insert(&mut *tx, event).await?;
    tx.commit().await?;
    Ok(())
}
