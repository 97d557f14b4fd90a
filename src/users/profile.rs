//! What a signed-in person does to their own account: profile, password, email address,
//! sessions, and deleting the account.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::UserError;
use super::merge_patch;
use super::model::{Invalid, Name, Role, User, check_preferences};
use super::repo as users;
use crate::audit::{self, Action, Event};
use crate::auth::login::Authenticated;
use crate::auth::one_time::{self, Purpose as TokenPurpose};
use crate::auth::sessions::{self, EndReason};
use crate::auth::{email_index, mail_token, password, queue_mail, seal_email};
use crate::email::templates::Template;
use crate::request::RequestMeta;
use crate::services::Services;
use crate::users::Email;

/// A profile change: absent fields stay as they are; preferences merge (RFC 7396).
#[derive(Debug, Default)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub preferences: Option<serde_json::Value>,
}

/// Applies a profile patch to `target_id`, with its audit event by `actor_id`; shared by
/// the self-service and the administration routes.
pub async fn apply_patch(
    services: &Services,
    actor_id: Uuid,
    target_id: Uuid,
    patch: ProfilePatch,
    meta: &RequestMeta,
) -> Result<User, UserError> {
    let name = patch
        .name
        .as_deref()
        .map(Name::parse)
        .transpose()
        .map_err(|i| UserError::invalid("name", i))?;
    let mut tx = services.db.begin().await?;
    let (current_name, mut preferences) = users::lock_profile(&mut *tx, target_id)
        .await?
        .ok_or(UserError::NotFound)?;
    let mut fields = Vec::new();
    if let Some(patch) = &patch.preferences {
        match patch {
            // `"preferences": null` clears them, like a merge patch of the whole object.
            serde_json::Value::Null => preferences = serde_json::json!({}),
            serde_json::Value::Object(_) => merge_patch::apply(&mut preferences, patch),
            _ => {
                return Err(UserError::invalid(
                    "preferences",
                    Invalid {
                        code: "invalid_type",
                        message: "must be a JSON object (a merge patch) or null".into(),
                    },
                ));
            }
        }
        check_preferences(&preferences).map_err(|i| UserError::invalid("preferences", i))?;
        fields.push("preferences");
    }
    let name = match name {
        Some(name) => {
            fields.push("name");
            name.as_str().to_owned()
        }
        None => current_name,
    };
    let user =
        users::update_profile(&mut *tx, &services.cipher, target_id, &name, &preferences).await?;
    if !fields.is_empty() {
        let event = Event::success(
            Action::UserProfileUpdated,
            Some(actor_id),
            Some(target_id),
            meta,
        )
        .with_details(serde_json::json!({"fields": fields}));
        audit::repo::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(user)
}

async fn check_current_password(
    services: &Services,
    user_id: Uuid,
    password: &str,
) -> Result<(), UserError> {
    let stored = users::password_hash(&services.db, user_id).await?;
    if services
        .passwords
        .verify(password, stored.as_deref())
        .await?
    {
        Ok(())
    } else {
        Err(UserError::InvalidCredentials)
    }
}

/// Changes the caller's password; every other session ends.
pub async fn change_password(
    services: &Services,
    caller: &Authenticated,
    current_password: &str,
    new_password: &str,
    meta: &RequestMeta,
) -> Result<(), UserError> {
    let user = &caller.user;
    let email = Email::parse(&user.email).ok();
    let problems: Vec<_> = password::check_rules(new_password, email.as_ref())
        .into_iter()
        .map(|i| ("new_password", i))
        .collect();
    if !problems.is_empty() {
        return Err(UserError::Invalid(problems));
    }
    check_current_password(services, user.id, current_password).await?;
    let hash = services.passwords.hash(new_password).await?;
    let mut tx = services.db.begin().await?;
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
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Starts an email change: a confirmation link to the new address, a notice to the old one.
/// The address changes only when the link is used.
pub async fn request_email_change(
    services: &Services,
    caller: &Authenticated,
    new_email: &str,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<(), UserError> {
    let user = &caller.user;
    let new_email = Email::parse(new_email).map_err(|i| UserError::invalid("new_email", i))?;
    if new_email.normalised() == user.email.to_ascii_lowercase() {
        return Err(UserError::invalid(
            "new_email",
            Invalid {
                code: "unchanged",
                message: "is already the address of this account".into(),
            },
        ));
    }
    check_current_password(services, user.id, current_password).await?;
    let index = email_index(services, &new_email);
    if users::find_by_email(&services.db, &services.cipher, &index)
        .await?
        .is_some()
    {
        return Err(UserError::EmailTaken);
    }
    let (sealed, index) = seal_email(services, &new_email)?;
    let mut tx = services.db.begin().await?;
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::EmailChange]).await?;
    mail_token(
        &mut tx,
        services,
        TokenPurpose::EmailChange,
        user.id,
        new_email.as_str(),
        &user.name,
        Some((&sealed, &index)),
    )
    .await?;
    queue_mail(
        &mut tx,
        services,
        Template::EmailChangeNotice,
        &user.email,
        &user.name,
        None,
    )
    .await?;
    audit::repo::insert(
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
    services.outbox_wake.notify_one();
    Ok(())
}

/// Fails with [`UserError::LastAdmin`] when deactivating or demoting `target_id` would
/// leave no active admin. Locks the active admins' rows for the rest of the transaction.
async fn ensure_not_last_admin(
    tx: &mut sqlx::PgConnection,
    target_id: Uuid,
) -> Result<(), UserError> {
    let admins = users::lock_active_admins(&mut *tx).await?;
    if admins.contains(&target_id) && admins.len() <= 1 {
        return Err(UserError::LastAdmin);
    }
    Ok(())
}

/// Deactivates a user and ends its sessions, with the audit event, in the caller's
/// transaction; returns false if it was already deactivated.
pub async fn deactivate_in(
    tx: &mut sqlx::PgConnection,
    actor_id: Uuid,
    target: &User,
    meta: &RequestMeta,
) -> Result<bool, UserError> {
    if target.role == Role::Admin {
        ensure_not_last_admin(&mut *tx, target.id).await?;
    }
    if !users::deactivate(&mut *tx, target.id).await? {
        return Ok(false);
    }
    let ended = sessions::end_all(&mut *tx, target.id, EndReason::Deactivated, None).await?;
    let event = Event::success(
        Action::UserDeactivated,
        Some(actor_id),
        Some(target.id),
        meta,
    )
    .with_details(serde_json::json!({"sessions_ended": ended}));
    audit::repo::insert(&mut *tx, &event).await?;
    Ok(true)
}

/// Soft-deletes the caller's own account (password required).
pub async fn delete_me(
    services: &Services,
    caller: &Authenticated,
    current_password: &str,
    meta: &RequestMeta,
) -> Result<(), UserError> {
    check_current_password(services, caller.user.id, current_password).await?;
    let mut tx = services.db.begin().await?;
    deactivate_in(&mut tx, caller.user.id, &caller.user, meta).await?;
    tx.commit().await?;
    Ok(())
}

/// An open session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
    pub current: bool,
}

/// The caller's open sessions, newest first.
pub async fn sessions(
    services: &Services,
    caller: &Authenticated,
) -> Result<Vec<SessionInfo>, UserError> {
    let open = sessions::list_open(&services.db, caller.user.id).await?;
    Ok(open
        .into_iter()
        .map(|s| SessionInfo {
            current: s.id == caller.session_id,
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            ip: s.ip.map(|net| net.addr()),
            user_agent: s.user_agent,
        })
        .collect())
}

/// Ends one of the caller's sessions.
pub async fn revoke_session(
    services: &Services,
    caller: &Authenticated,
    session_id: Uuid,
    meta: &RequestMeta,
) -> Result<(), UserError> {
    let user_id = caller.user.id;
    let mut tx = services.db.begin().await?;
    if !sessions::end_own(&mut *tx, user_id, session_id, EndReason::Revoked).await? {
        return Err(UserError::NotFound);
    }
    let event = Event::success(
        Action::UserSessionRevoked,
        Some(user_id),
        Some(user_id),
        meta,
    )
    .with_details(serde_json::json!({"session_id": session_id}));
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
