//! What a signed-in person does to their own account: profile, password, email address,
//! and deleting the account.

use uuid::Uuid;

use super::shared::{self, ChangeError};
use crate::db::mail::{self, Recipient};
use crate::db::one_time::{self, Purpose as TokenPurpose};
use crate::db::sessions::{self, EndReason};
use crate::db::{audit, users};
use crate::deps::Deps;
use crate::mail::Template;
use crate::model::{Action, Authenticated, Email, Event, User};
use crate::passwords::{self, HashError};
use crate::request::RequestMeta;
use crate::validation::{FieldProblems, Invalid};

pub use super::shared::ProfilePatch;

/// Why a change to one's own account did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid input: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    /// The current password given to confirm the change is wrong.
    #[error("wrong password")]
    WrongPassword,
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
    let id = caller.user.id;
    Ok(shared::apply_patch(deps, id, id, patch, meta).await?)
}

async fn check_current_password(
    deps: &Deps,
    user_id: Uuid,
    password: &str,
) -> Result<(), ProfileError> {
    let stored = users::password_hash(&deps.db, user_id).await?;
    if deps.passwords.verify(password, stored.as_deref()).await? {
        Ok(())
    } else {
        Err(ProfileError::WrongPassword)
    }
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
    check_current_password(deps, user.id, current_password).await?;
    let hash = deps.passwords.hash(new_password).await?;
    let mut tx = deps.db.begin().await?;
    users::set_password(&mut *tx, user.id, &hash).await?;
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

/// Starts an email change: a confirmation link to the new address, a notice to the old one.
/// The address changes only when the link is used.
pub async fn request_email_change(
    deps: &Deps,
    caller: &Authenticated,
    new_email: &str,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<(), ProfileError> {
    let user = &caller.user;
    let new_email =
        Email::parse(new_email).map_err(|i| ProfileError::Invalid(vec![("new_email", i)]))?;
    if new_email.normalised() == user.email.to_ascii_lowercase() {
        return Err(ProfileError::Invalid(vec![(
            "new_email",
            Invalid::new("unchanged", "is already the address of this account"),
        )]));
    }
    check_current_password(deps, user.id, current_password).await?;
    if users::find_by_email(&deps.db, &deps.cipher, &deps.email_index(&new_email))
        .await?
        .is_some()
    {
        return Err(ProfileError::EmailTaken);
    }
    let (sealed, index) = deps
        .seal_email(&new_email)
        .map_err(|e| ProfileError::Internal(e.into()))?;
    let mut tx = deps.db.begin().await?;
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::EmailChange]).await?;
    let to_new = Recipient {
        address: new_email.as_str(),
        name: &user.name,
    };
    mail::send_token(
        &mut tx,
        &deps.cipher,
        deps.public_url(),
        TokenPurpose::EmailChange,
        user.id,
        to_new,
        Some((&sealed, &index)),
    )
    .await?;
    let to_old = Recipient {
        address: &user.email,
        name: &user.name,
    };
    mail::queue(
        &mut tx,
        &deps.cipher,
        Template::EmailChangeNotice,
        to_old,
        None,
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
    Ok(())
}

/// Soft-deletes the caller's own account (password required).
pub async fn delete_me(
    deps: &Deps,
    caller: &Authenticated,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<(), ProfileError> {
    check_current_password(deps, caller.user.id, current_password).await?;
    let mut tx = deps.db.begin().await?;
    shared::deactivate_in(&mut tx, caller.user.id, &caller.user, meta).await?;
    tx.commit().await?;
    Ok(())
}
