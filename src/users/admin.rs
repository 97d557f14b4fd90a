//! Administration of other users: listing, creation, reading, editing, roles, soft delete
//! and restore, ending sessions. Every operation asks [`crate::rbac`] first.

use uuid::Uuid;

use super::error::{UserError, email_taken};
use super::listing::{ListFilter, ListQuery};
use super::model::{Email, FieldProblems, Name, Role, Status, User};
use super::profile::{self, ProfilePatch};
use super::repo::{self as users, NewUser};
use crate::audit::{self, Action, Event};
use crate::auth::one_time::Purpose as TokenPurpose;
use crate::auth::sessions::{self, EndReason};
use crate::auth::{mail_token, password, seal_email};
use crate::rbac::{self, Permission};
use crate::request::RequestMeta;
use crate::services::Services;

/// One page of users.
#[derive(Debug)]
pub struct UserPage {
    pub items: Vec<User>,
    pub filter: ListFilter,
    pub total: i64,
}

/// Lists users (admin, manager).
pub async fn list(
    services: &Services,
    actor: &User,
    query: ListQuery,
) -> Result<UserPage, UserError> {
    rbac::may_attempt(actor, Permission::ListUsers, None)?;
    let filter = query
        .check(&services.blind_index)
        .map_err(UserError::Invalid)?;
    let (total, items) = users::list(&services.db, &services.cipher, &filter).await?;
    Ok(UserPage {
        items,
        filter,
        total,
    })
}

/// Loads a target after the checks that need no lookup, then checks against it.
async fn target(
    services: &Services,
    actor: &User,
    permission: Permission,
    id: Uuid,
) -> Result<User, UserError> {
    rbac::may_attempt(actor, permission, Some(id))?;
    let target = users::find(&services.db, &services.cipher, id)
        .await?
        .ok_or(UserError::NotFound)?;
    rbac::authorize(actor, permission, &target)?;
    Ok(target)
}

/// Reads a user (admin, manager; a user itself).
pub async fn get(services: &Services, actor: &User, id: Uuid) -> Result<User, UserError> {
    target(services, actor, Permission::ReadUser, id).await
}

/// Edits name and preferences of a user (admin; manager for role `user`).
pub async fn update(
    services: &Services,
    actor: &User,
    id: Uuid,
    patch: ProfilePatch,
    meta: &RequestMeta,
) -> Result<User, UserError> {
    let target = target(services, actor, Permission::EditUser, id).await?;
    profile::apply_patch(services, actor.id, target.id, patch, meta).await
}

/// What an admin sends to create a user.
#[derive(Debug)]
pub struct NewAccount {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Option<String>,
    pub email_verified: bool,
}

/// Creates a user (admin). Without a password the person is invited by mail to choose
/// one (7 days); with one, the account is active if its address is declared verified, and
/// pending with a verification mail otherwise.
pub async fn create(
    services: &Services,
    actor: &User,
    input: NewAccount,
    meta: &RequestMeta,
) -> Result<User, UserError> {
    rbac::may_attempt(actor, Permission::CreateUser, None)?;
    let mut problems: FieldProblems = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|i| problems.push(("email", i)))
        .ok();
    let name = Name::parse(&input.name)
        .map_err(|i| problems.push(("name", i)))
        .ok();
    if let Some(password) = &input.password {
        for invalid in password::check_rules(password, email.as_ref()) {
            problems.push(("password", invalid));
        }
    }
    let (Some(email), Some(name)) = (email, name) else {
        return Err(UserError::Invalid(problems));
    };
    if !problems.is_empty() {
        return Err(UserError::Invalid(problems));
    }
    let hash = match &input.password {
        Some(password) => Some(services.passwords.hash(password).await?),
        None => None,
    };
    let active = hash.is_some() && input.email_verified;
    let (sealed, index) = seal_email(services, &email)?;
    let id = Uuid::now_v7();
    let preferences = serde_json::json!({});

    let mut tx = services.db.begin().await?;
    let user = users::insert(
        &mut *tx,
        &services.cipher,
        &NewUser {
            id,
            email: &sealed,
            email_blind_index: &index,
            email_verified: input.email_verified,
            password_hash: hash.as_deref(),
            name: name.as_str(),
            role: input.role,
            status: if active {
                Status::Active
            } else {
                Status::PendingVerification
            },
            preferences: &preferences,
        },
    )
    .await
    .map_err(email_taken)?;
    // Without a password: an invitation to choose one; unverified: a verification link.
    let mailed = match (&hash, active) {
        (None, _) => Some(TokenPurpose::Invitation),
        (Some(_), false) => Some(TokenPurpose::EmailVerification),
        (Some(_), true) => None,
    };
    if let Some(purpose) = mailed {
        mail_token(
            &mut tx,
            services,
            purpose,
            id,
            email.as_str(),
            name.as_str(),
            None,
        )
        .await?;
    }
    let event = Event::success(Action::UserCreated, Some(actor.id), Some(id), meta).with_details(
        serde_json::json!({
            "role": input.role.as_str(),
            "invited": hash.is_none(),
            "email_verified": input.email_verified,
        }),
    );
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    services.outbox_wake.notify_one();
    Ok(user)
}

/// Changes a user's role (admin, not its own); never leaves zero active admins.
pub async fn change_role(
    services: &Services,
    actor: &User,
    id: Uuid,
    role: Role,
    meta: &RequestMeta,
) -> Result<User, UserError> {
    let target = target(services, actor, Permission::ChangeRole, id).await?;
    let mut tx = services.db.begin().await?;
    let admins = users::lock_active_admins(&mut *tx).await?;
    // The caller's own role, read again under the lock: an admin demoted meanwhile (say, by
    // the admin it is demoting) may no longer change roles.
    if !admins.contains(&actor.id) {
        return Err(UserError::Forbidden);
    }
    if role != Role::Admin && admins.contains(&id) && admins.len() <= 1 {
        return Err(UserError::LastAdmin);
    }
    // Read the role again under the lock: it may have changed since the check above.
    let before = users::find(&mut *tx, &services.cipher, id)
        .await?
        .ok_or(UserError::NotFound)?;
    let user = users::set_role(&mut *tx, &services.cipher, id, role).await?;
    if before.role != role {
        let event = Event::success(
            Action::UserRoleChanged,
            Some(actor.id),
            Some(target.id),
            meta,
        )
        .with_details(serde_json::json!({"from": before.role.as_str(), "to": role.as_str()}));
        audit::repo::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// Soft-deletes a user (admin: anyone but itself and the last admin; manager: role `user`).
pub async fn deactivate(
    services: &Services,
    actor: &User,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<(), UserError> {
    let target = target(services, actor, Permission::DeactivateUser, id).await?;
    let mut tx = services.db.begin().await?;
    profile::deactivate_in(&mut tx, actor.id, &target, meta).await?;
    tx.commit().await?;
    Ok(())
}

/// Restores a deactivated user (admin).
pub async fn restore(
    services: &Services,
    actor: &User,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<User, UserError> {
    target(services, actor, Permission::RestoreUser, id).await?;
    let mut tx = services.db.begin().await?;
    let user = users::restore(&mut *tx, &services.cipher, id)
        .await?
        .ok_or(UserError::Conflict("The user is not deactivated."))?;
    audit::repo::insert(
        &mut *tx,
        &Event::success(Action::UserRestored, Some(actor.id), Some(id), meta),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Ends every session of a user (admin).
pub async fn revoke_sessions(
    services: &Services,
    actor: &User,
    id: Uuid,
    meta: &RequestMeta,
) -> Result<(), UserError> {
    target(services, actor, Permission::RevokeSessions, id).await?;
    let mut tx = services.db.begin().await?;
    let ended = sessions::end_all(&mut *tx, id, EndReason::Revoked, None).await?;
    let event = Event::success(Action::UserSessionsRevoked, Some(actor.id), Some(id), meta)
        .with_details(serde_json::json!({"sessions_ended": ended}));
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
