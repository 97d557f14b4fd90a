//! One's own passkeys: registering one (after the password is checked again, like the
//! other changes of one's account, [`super::reauth`]), listing, renaming and removing them.
//! Registration is a ceremony of two requests: the options (kept server-side as a
//! challenge bound to the user, five minutes, single use) and the browser's answer.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::reauth::{self, ReauthError};
use crate::db::audit;
use crate::db::passkeys::{self, Ceremony, PasskeyRow};
use crate::deps::Deps;
use crate::model::{Action, Authenticated, Event, Name};
use crate::passkeys::{CEREMONY_LIFETIME, RelyingParty};
use crate::request::RequestMeta;
use crate::validation::{FieldProblems, Invalid};

/// Why a change to one's passkeys did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// A bad name, challenge or credential.
    #[error("invalid input: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    /// The `current_password` confirming the registration did not pass.
    #[error(transparent)]
    Reauth(#[from] ReauthError),
    /// The caller has no passkey with this id.
    #[error("no such passkey")]
    NotFound,
    /// Passkeys are off: the RP ID would be an IP address.
    #[error("passkeys are off")]
    Off,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> PasskeyError {
    PasskeyError::Invalid(vec![(field, Invalid::new(code, message))])
}

/// A registered passkey, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyRow> for PasskeyInfo {
    fn from(row: PasskeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// The options of a registration: the challenge to answer, and what the browser's
/// `navigator.credentials.create()` takes.
#[derive(Debug)]
pub struct RegistrationOptions {
    pub challenge_id: Uuid,
    pub public_key: Value,
}

fn relying_party(deps: &Deps) -> Result<&RelyingParty, PasskeyError> {
    deps.passkeys.as_ref().ok_or(PasskeyError::Off)
}

fn parse_name(raw: &str) -> Result<Name, PasskeyError> {
    Name::parse(raw).map_err(|problem| PasskeyError::Invalid(vec![("name", problem)]))
}

/// Starts registering a passkey, once the password is checked again: the options ask for
/// a discoverable credential with user verification and exclude the caller's passkeys.
/// Earlier pending registrations stay valid.
pub async fn options(
    deps: &Deps,
    caller: &Authenticated,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<RegistrationOptions, PasskeyError> {
    let rp = relying_party(deps)?;
    reauth::check(deps, caller, current_password, meta).await?;
    let user = &caller.user;
    let existing = passkeys::credential_ids(&deps.db, user.id).await?;
    let ceremony = rp.start_registration(user.id, user.email.as_str(), &user.name, existing)?;
    let challenge_id = Uuid::new_v4();
    passkeys::create_challenge(
        &deps.db,
        challenge_id,
        Ceremony::Registration,
        Some(user.id),
        &ceremony.state,
        CEREMONY_LIFETIME,
    )
    .await?;
    Ok(RegistrationOptions {
        challenge_id,
        public_key: ceremony.public_key,
    })
}

/// Finishes a registration with the browser's `credential` (its `toJSON()`): the challenge
/// is used whatever the outcome, and the passkey is stored with its event.
pub async fn register(
    deps: &Deps,
    caller: &Authenticated,
    challenge_id: Uuid,
    name: &str,
    credential: &Value,
    meta: &RequestMeta,
) -> Result<PasskeyInfo, PasskeyError> {
    let rp = relying_party(deps)?;
    let name = parse_name(name)?;
    let user_id = caller.user.id;
    let Some(state) = passkeys::take_registration(&deps.db, challenge_id, user_id).await? else {
        return Err(invalid(
            "challenge_id",
            "invalid_challenge",
            "is not a live registration challenge of yours (unknown, used or expired)",
        ));
    };
    let made = match rp.finish_registration(credential, state)? {
        Ok(made) => made,
        Err(refusal) => {
            return Err(invalid(
                "credential",
                "invalid_credential",
                refusal.to_string(),
            ));
        }
    };
    let mut tx = deps.db.begin().await?;
    let Some(row) = passkeys::insert(
        &mut *tx,
        Uuid::now_v7(),
        user_id,
        &made.credential_id,
        &made.credential,
        made.sign_count,
        name.as_str(),
    )
    .await?
    else {
        return Err(invalid(
            "credential",
            "already_registered",
            "this passkey is already registered",
        ));
    };
    let event = Event::success(Action::UserPasskeyAdded, Some(user_id), Some(user_id), meta)
        .with_details(serde_json::json!({"passkey_id": row.id}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(row.into())
}

/// The caller's passkeys, oldest first.
pub async fn list(deps: &Deps, caller: &Authenticated) -> Result<Vec<PasskeyInfo>, PasskeyError> {
    relying_party(deps)?;
    let rows = passkeys::list(&deps.db, caller.user.id).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Renames one of the caller's passkeys.
pub async fn rename(
    deps: &Deps,
    caller: &Authenticated,
    id: Uuid,
    name: &str,
    meta: &RequestMeta,
) -> Result<PasskeyInfo, PasskeyError> {
    relying_party(deps)?;
    let name = parse_name(name)?;
    let user_id = caller.user.id;
    let mut tx = deps.db.begin().await?;
    let Some(row) = passkeys::rename(&mut *tx, user_id, id, name.as_str()).await? else {
        return Err(PasskeyError::NotFound);
    };
    let event = Event::success(
        Action::UserPasskeyRenamed,
        Some(user_id),
        Some(user_id),
        meta,
    )
    .with_details(serde_json::json!({"passkey_id": id}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(row.into())
}

/// Removes one of the caller's passkeys: it signs in no more.
pub async fn remove(
    deps: &Deps,
    caller: &Authenticated,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<(), PasskeyError> {
    relying_party(deps)?;
    let user_id = caller.user.id;
    let mut tx = deps.db.begin().await?;
    if !passkeys::delete(&mut *tx, user_id, id).await? {
        return Err(PasskeyError::NotFound);
    }
    let event = Event::success(
        Action::UserPasskeyRemoved,
        Some(user_id),
        Some(user_id),
        meta,
    )
    .with_details(serde_json::json!({"passkey_id": id}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
