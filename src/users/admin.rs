//! Administration of other users: listing, reading, editing, roles, soft delete and
//! restore, ending sessions (creation is in [`super::accounts`]). Every operation asks
//! [`crate::rbac`] first.

use uuid::Uuid;

use super::shared::{self, ChangeError, Guard, ProfilePatch};
use crate::db::mail::{self, Recipient};
use crate::db::sessions::{self, EndReason};
use crate::db::{audit, mfa, users};
use crate::deps::Deps;
use crate::mail::templates::Template;
use crate::model::listing::{ListFilter, ListQuery};
use crate::model::{Action, Event, Role, User};
use crate::rbac::{self, Forbidden, Permission};
use crate::request::RequestMeta;
use crate::validation::FieldProblems;

/// Why an administration operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid input: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    /// The permission table does not allow this caller to do this to this user.
    #[error("forbidden")]
    Forbidden,
    #[error("no such user")]
    NoSuchUser,
    #[error("this would leave no active admin")]
    LastAdmin,
    /// Restoring a user who is not deactivated.
    #[error("the user is not deactivated")]
    NotDeactivated,
    /// Resetting the second step of a user who has none on.
    #[error("two-step sign-in is not on for this user")]
    MfaNotOn,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Forbidden> for AdminError {
    fn from(_: Forbidden) -> Self {
        Self::Forbidden
    }
}

impl From<ChangeError> for AdminError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Invalid(problems) => Self::Invalid(problems),
            ChangeError::Forbidden => Self::Forbidden,
            ChangeError::NoSuchUser => Self::NoSuchUser,
            ChangeError::LastAdmin => Self::LastAdmin,
            ChangeError::Database(error) => Self::Database(error),
        }
    }
}

/// One page of users.
#[derive(Debug)]
pub struct UserPage {
    pub items: Vec<User>,
    pub filter: ListFilter,
    pub total: i64,
}

/// Lists users (admin, manager).
pub async fn list(deps: &Deps, actor: &User, query: ListQuery) -> Result<UserPage, AdminError> {
    rbac::may_attempt(actor, Permission::ListUsers, None)?;
    let filter = query
        .check(&deps.blind_index)
        .map_err(AdminError::Invalid)?;
    let (total, items) = users::list(&deps.db, &deps.cipher, &filter).await?;
    Ok(UserPage {
        items,
        filter,
        total,
    })
}

/// Loads a target after the checks that need no lookup, then checks against it.
async fn target(
    deps: &Deps,
    actor: &User,
    permission: Permission,
    id: Uuid,
) -> Result<User, AdminError> {
    rbac::may_attempt(actor, permission, Some(id))?;
    let target = users::find(&deps.db, &deps.cipher, id)
        .await?
        .ok_or(AdminError::NoSuchUser)?;
    rbac::authorize(actor, permission, &target)?;
    Ok(target)
}

/// Reads a user (admin, manager; a user itself).
pub async fn get(deps: &Deps, actor: &User, id: Uuid) -> Result<User, AdminError> {
    target(deps, actor, Permission::ReadUser, id).await
}

/// Edits name and preferences of a user (admin; manager for role `user`).
pub async fn update(
    deps: &Deps,
    actor: &User,
    id: Uuid,
    patch: ProfilePatch,
    meta: &RequestMeta,
) -> Result<User, AdminError> {
    let target = target(deps, actor, Permission::EditUser, id).await?;
    let guard = Guard {
        actor,
        permission: Permission::EditUser,
    };
    Ok(shared::apply_patch(deps, actor.id, &target, Some(guard), patch, meta).await?)
}

/// Changes a user's role (admin, not its own); never leaves zero active admins.
pub async fn change_role(
    deps: &Deps,
    actor: &User,
    id: Uuid,
    role: Role,
    meta: &RequestMeta,
) -> Result<User, AdminError> {
    let target = target(deps, actor, Permission::ChangeRole, id).await?;
    let mut tx = deps.db.begin().await?;
    let admins = users::lock_active_admins(&mut *tx).await?;
    // The caller's own role, read again under the lock: an admin demoted meanwhile (say, by
    // the admin it is demoting) may no longer change roles.
    if !admins.contains(&actor.id) {
        return Err(AdminError::Forbidden);
    }
    if role != Role::Admin && admins.contains(&id) && admins.len() <= 1 {
        return Err(AdminError::LastAdmin);
    }
    // Read the role again under the lock: it may have changed since the check above.
    let before = users::find(&mut *tx, &deps.cipher, id)
        .await?
        .ok_or(AdminError::NoSuchUser)?;
    let user = users::set_role(&mut *tx, &deps.cipher, id, role).await?;
    if before.role != role {
        let event = Event::success(
            Action::UserRoleChanged,
            Some(actor.id),
            Some(target.id),
            meta,
        )
        .with_details(serde_json::json!({"from": before.role, "to": role}));
        audit::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// Soft-deletes a user (admin: anyone but itself and the last admin; manager: role `user`).
pub async fn deactivate(
    deps: &Deps,
    actor: &User,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<(), AdminError> {
    let target = target(deps, actor, Permission::DeactivateUser, id).await?;
    let mut tx = deps.db.begin().await?;
    let guard = Guard {
        actor,
        permission: Permission::DeactivateUser,
    };
    guard.recheck(&mut tx, &target, true).await?;
    shared::deactivate_in(&mut tx, actor.id, &target, meta).await?;
    tx.commit().await?;
    Ok(())
}

/// Restores a deactivated user (admin).
pub async fn restore(
    deps: &Deps,
    actor: &User,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<User, AdminError> {
    let target = target(deps, actor, Permission::RestoreUser, id).await?;
    let mut tx = deps.db.begin().await?;
    let guard = Guard {
        actor,
        permission: Permission::RestoreUser,
    };
    guard.recheck(&mut tx, &target, false).await?;
    let user = users::restore(&mut *tx, &deps.cipher, id)
        .await?
        .ok_or(AdminError::NotDeactivated)?;
    audit::insert(
        &mut *tx,
        &Event::success(Action::UserRestored, Some(actor.id), Some(id), meta),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Switches a user's two-step sign-in off (admin; a lost phone): TOTP and recovery codes
/// are deleted (passkeys stay), every session of the user ends, and the user is mailed a
/// notice. A user without TOTP on: 409.
pub async fn reset_mfa(
    deps: &Deps,
    actor: &User,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<(), AdminError> {
    let target = target(deps, actor, Permission::ResetMfa, id).await?;
    let mut tx = deps.db.begin().await?;
    if !mfa::remove(&mut *tx, id).await? {
        return Err(AdminError::MfaNotOn);
    }
    let ended = sessions::end_all(&mut *tx, id, EndReason::MfaReset, None).await?;
    mail::queue(
        &mut tx,
        &deps.cipher,
        Template::MfaReset,
        Recipient::proven(&target.email, &target.name),
        None,
    )
    .await?;
    let event = Event::success(Action::UserMfaDisabled, Some(actor.id), Some(id), meta)
        .with_details(
            serde_json::json!({"method": "totp", "by": "admin", "sessions_ended": ended}),
        );
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    deps.outbox_wake.notify_one();
    Ok(())
}

/// Ends every session of a user (admin).
pub async fn revoke_sessions(
    deps: &Deps,
    actor: &User,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<(), AdminError> {
    target(deps, actor, Permission::RevokeSessions, id).await?;
    let mut tx = deps.db.begin().await?;
    let ended = sessions::end_all(&mut *tx, id, EndReason::Revoked, None).await?;
    let event = Event::success(Action::UserSessionsRevoked, Some(actor.id), Some(id), meta)
        .with_details(serde_json::json!({"sessions_ended": ended}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
