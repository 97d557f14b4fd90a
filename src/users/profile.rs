//! What a signed-in person does to their own account: profile, password, email address,
//! and deleting the account.

use uuid::Uuid;

use super::reauth::{self, ReauthError};
use super::shared::{self, ChangeError};
use crate::db::mail::{self, Recipient};
use crate::db::one_time::{self, Purpose as TokenPurpose};
use crate::db::sessions::{self, EndReason};
use crate::db::{audit, users};
use crate::deps::Deps;
use crate::model::{Action, Authenticated, Email, Event, User};
use crate::passwords::{self, HashError};
use crate::rate_limit::Verdict;
use crate::request::RequestMeta;
use crate::validation::{FieldProblems, Invalid};

pub use super::shared::ProfilePatch;

/// Why a change to one's own account did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid input: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    /// The `current_password` confirming the change did not pass.
    #[error(transparent)]
    Reauth(#[from] ReauthError),
    /// The email-change limit refused the attempt.
    #[error("too many attempts")]
    RateLimited(Verdict),
    #[error("an account with this email address exists")]
    EmailTaken,
    #[error("this would leave no active admin")]
    LastAdmin,
    /// The account vanished under the request (it cannot be deleted, so only a bug).
    #[error("the account does not exist")]
    NoSuchUser,
    #[error("password hashing is unavailable")]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<ChangeError> for ProfileError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Invalid(problems) => Self::Invalid(problems),
            // Only a guarded change (another user's) is refused so; one's own never is.
            ChangeError::Forbidden => {
                Self::Internal(anyhow::anyhow!("a guard on one's own profile"))
            }
            ChangeError::NoSuchUser => Self::NoSuchUser,
            ChangeError::LastAdmin => Self::LastAdmin,
            ChangeError::Database(error) => Self::Database(error),
        }
    }
}

/// Changes the caller's own name and preferences.
pub async fn update(
    deps: &Deps,
    caller: &Authenticated,
    patch: ProfilePatch,
    meta: &RequestMeta,
) -> Result<User, ProfileError> {
    let user = &caller.user;
    Ok(shared::apply_patch(deps, user.id, user, None, patch, meta).await?)
}

/// Changes the caller's password; every other session ends.
pub async fn change_password(
    deps: &Deps,
    caller: &Authenticated,
    current_password: &str,
    new_password: &str,
    meta: &RequestMeta,
) -> Result<(), ProfileError> {
    let user = &caller.user;
    let email = Email::parse(&user.email).ok();
    let problems: FieldProblems = passwords::check_rules(new_password, email.as_ref())
        .into_iter()
        .map(|i| ("new_password", i))
        .collect();
    if !problems.is_empty() {
        return Err(ProfileError::Invalid(problems));
    }
    reauth::check(deps, caller, current_password, meta).await?;
    let hash = deps.passwords.hash(new_password).await?;
    let mut tx = deps.db.begin().await?;
    users::set_password(&mut *tx, user.id, &hash).await?;
    one_time::retire_open(
        &mut *tx,
        user.id,
        &TokenPurpose::RETIRED_BY_SECURITY_CHANGES,
    )
    .await?;
    let ended = sessions::end_all(
        &mut *tx,
        user.id,
        EndReason::PasswordChanged,
        Some(caller.session_id),
    )
    .await?;
    let event = Event::success(
        Action::UserPasswordChanged,
        Some(user.id),
        Some(user.id),
        meta,
    )
    .with_details(serde_json::json!({"other_sessions_ended": ended}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Starts an email change: a confirmation link to the new address, and to the old one a
/// notice with a link that undoes the change (7 days). The address changes only when the
/// confirmation link is used. Changes are limited per user and per new address; the
/// verdict is returned for the response.
pub async fn request_email_change(
    deps: &Deps,
    caller: &Authenticated,
    new_email: &str,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<Option<Verdict>, ProfileError> {
    let user = &caller.user;
    let new_email =
        Email::parse(new_email).map_err(|i| ProfileError::Invalid(vec![("new_email", i)]))?;
    if new_email.normalised() == user.email.to_ascii_lowercase() {
        return Err(ProfileError::Invalid(vec![(
            "new_email",
            Invalid::new("unchanged", "is already the address of this account"),
        )]));
    }
    reauth::check(deps, caller, current_password, meta).await?;
    if users::find_by_email(&deps.db, &deps.cipher, &deps.email_index(&new_email))
        .await?
        .is_some()
    {
        return Err(ProfileError::EmailTaken);
    }
    let verdict = charge_email_change(deps, user.id, &new_email).await?;
    let (sealed_new, index_new) = deps
        .seal_email(&new_email)
        .map_err(|e| ProfileError::Internal(e.into()))?;
    let old_email =
        Email::parse(&user.email).map_err(|i| ProfileError::Internal(anyhow::anyhow!("{i:?}")))?;
    let (sealed_old, index_old) = deps
        .seal_email(&old_email)
        .map_err(|e| ProfileError::Internal(e.into()))?;
    let mut tx = deps.db.begin().await?;
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::EmailChange]).await?;
    // The new address is not proven yet: no text the requester chose goes to it.
    mail::send_token(
        &mut tx,
        &deps.cipher,
        deps.public_url(),
        TokenPurpose::EmailChange,
        user.id,
        Recipient::unproven(new_email.as_str()),
        Some((&sealed_new, &index_new)),
    )
    .await?;
    // The notice to the old address carries the link that puts it back.
    mail::send_token(
        &mut tx,
        &deps.cipher,
        deps.public_url(),
        TokenPurpose::EmailRevert,
        user.id,
        Recipient::proven(&user.email, &user.name),
        Some((&sealed_old, &index_old)),
    )
    .await?;
    audit::insert(
        &mut *tx,
        &Event::success(
            Action::UserEmailChangeRequested,
            Some(user.id),
            Some(user.id),
            meta,
        ),
    )
    .await?;
    tx.commit().await?;
    deps.outbox_wake.notify_one();
    Ok(verdict)
}

/// Charges an email change to its user's and its new address's buckets.
async fn charge_email_change(
    deps: &Deps,
    user_id: Uuid,
    new_email: &Email,
) -> Result<Option<Verdict>, ProfileError> {
    let limiter = &deps.limiter;
    let buckets = limiter
        .limits()
        .email_change_buckets(user_id, &deps.email_key(new_email));
    limiter
        .charge(&buckets)
        .await
        .map_err(ProfileError::RateLimited)
}

/// Soft-deletes the caller's own account (password required).
pub async fn delete_me(
    deps: &Deps,
    caller: &Authenticated,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<(), ProfileError> {
    reauth::check(deps, caller, current_password, meta).await?;
    let mut tx = deps.db.begin().await?;
    shared::deactivate_in(&mut tx, caller.user.id, &caller.user, meta).await?;
    tx.commit().await?;
    Ok(())
}
