//! Changes that both self-service and administration make, inside the caller's
//! transaction or as a whole: a profile patch and a deactivation.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::one_time;
use crate::db::sessions::{self, EndReason};
use crate::db::{audit, users};
use crate::deps::Deps;
use crate::model::preferences;
use crate::model::{Action, Event, Name, Role, Status, User};
use crate::rbac::{self, Permission};
use crate::request::RequestMeta;
use crate::validation::FieldProblems;

/// A profile change: absent fields stay as they are; preferences merge (RFC 7396).
#[derive(Debug, Default)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub preferences: Option<serde_json::Value>,
}

/// Why a shared change was refused; each caller turns it into its own error.
#[derive(Debug)]
pub(super) enum ChangeError {
    Invalid(FieldProblems),
    /// The actor, read again under lock, may no longer do this.
    Forbidden,
    NoSuchUser,
    LastAdmin,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ChangeError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// Who acts on another user, under which permission: checked again inside the acting
/// transaction, with the actor's and the target's rows locked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Guard<'a> {
    pub actor: &'a User,
    pub permission: Permission,
}

impl Guard<'_> {
    /// Locks the actor and the target (and every active admin, with `active_admins`) and
    /// checks the permission against their role and status as they are now: an actor
    /// demoted or deactivated since the request began may not act.
    pub(super) async fn recheck(
        &self,
        tx: &mut PgConnection,
        target: &User,
        active_admins: bool,
    ) -> Result<(), ChangeError> {
        let parties =
            users::lock_parties(&mut *tx, &[self.actor.id, target.id], active_admins).await?;
        let now = |id: Uuid| parties.iter().find(|p| p.id == id).copied();
        let (Some(actor), Some(target_now)) = (now(self.actor.id), now(target.id)) else {
            return Err(ChangeError::Forbidden);
        };
        if actor.status != Status::Active {
            return Err(ChangeError::Forbidden);
        }
        let fresh_actor = User {
            role: actor.role,
            status: actor.status,
            ..self.actor.clone()
        };
        let fresh_target = User {
            role: target_now.role,
            status: target_now.status,
            ..target.clone()
        };
        rbac::authorize(&fresh_actor, self.permission, &fresh_target)
            .map_err(|_| ChangeError::Forbidden)
    }
}

/// Applies a profile patch to `target`, with its audit event by `actor_id`; with a guard,
/// the actor's permission is checked again inside the transaction.
pub(super) async fn apply_patch(
    deps: &Deps,
    actor_id: Uuid,
    target: &User,
    guard: Option<Guard<'_>>,
    patch: ProfilePatch,
    meta: &RequestMeta,
) -> Result<User, ChangeError> {
    let target_id = target.id;
    let name = patch
        .name
        .as_deref()
        .map(Name::parse)
        .transpose()
        .map_err(|i| ChangeError::Invalid(vec![("name", i)]))?;
    let mut tx = deps.db.begin().await?;
    if let Some(guard) = guard {
        guard.recheck(&mut tx, target, false).await?;
    }
    let (current_name, current_preferences) = users::lock_profile(&mut *tx, target_id)
        .await?
        .ok_or(ChangeError::NoSuchUser)?;
    let mut fields = Vec::new();
    let preferences = match &patch.preferences {
        Some(change) => {
            fields.push("preferences");
            preferences::patched(current_preferences, change)
                .map_err(|i| ChangeError::Invalid(vec![("preferences", i)]))?
        }
        None => current_preferences,
    };
    let name = match name {
        Some(name) => {
            fields.push("name");
            name.as_str().to_owned()
        }
        None => current_name,
    };
    let user =
        users::update_profile(&mut *tx, &deps.cipher, target_id, &name, &preferences).await?;
    if !fields.is_empty() {
        let event = Event::success(
            Action::UserProfileUpdated,
            Some(actor_id),
            Some(target_id),
            meta,
        )
        .with_details(serde_json::json!({"fields": fields}));
        audit::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// Deactivates a user and ends its sessions, with the audit event, in the caller's
/// transaction; returns false if it was already deactivated. Never the last active admin:
/// the active admins' rows stay locked until the transaction ends.
pub(super) async fn deactivate_in(
    tx: &mut PgConnection,
    actor_id: Uuid,
    target: &User,
    meta: &RequestMeta,
) -> Result<bool, ChangeError> {
    if target.role == Role::Admin {
        let admins = users::lock_active_admins(&mut *tx).await?;
        if admins.contains(&target.id) && admins.len() <= 1 {
            return Err(ChangeError::LastAdmin);
        }
    }
    if !users::deactivate(&mut *tx, target.id).await? {
        return Ok(false);
    }
    one_time::retire_open(
        &mut *tx,
        target.id,
        &one_time::Purpose::RETIRED_BY_SECURITY_CHANGES,
    )
    .await?;
    let ended = sessions::end_all(&mut *tx, target.id, EndReason::Deactivated, None).await?;
    let event = Event::success(
        Action::UserDeactivated,
        Some(actor_id),
        Some(target.id),
        meta,
    )
    .with_details(serde_json::json!({"sessions_ended": ended}));
    audit::insert(&mut *tx, &event).await?;
    Ok(true)
}
