//! Registration, email verification (of a new account or a changed address), resending
//! the verification mail, and creating admins from the command line or at start.

use uuid::Uuid;

use super::error::email_taken;
use super::one_time::{self, Purpose as TokenPurpose};
use super::{AuthError, email_index, mail_token, password, seal_email};
use crate::audit::{self, Action, Event};
use crate::crypto;
use crate::request::RequestMeta;
use crate::services::Services;
use crate::users::model::{FieldProblems, check_preferences};
use crate::users::repo::{self as users, NewUser};
use crate::users::{Email, Name, Role, Status, User};

/// What a person sends to register.
#[derive(Debug)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
    pub preferences: Option<serde_json::Value>,
}

/// Checked registration input.
struct Checked {
    email: Email,
    name: Name,
    preferences: serde_json::Value,
}

fn check(input: &Registration) -> Result<Checked, AuthError> {
    let mut problems: FieldProblems = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|i| problems.push(("email", i)))
        .ok();
    let name = Name::parse(&input.name)
        .map_err(|i| problems.push(("name", i)))
        .ok();
    for invalid in password::check_rules(&input.password, email.as_ref()) {
        problems.push(("password", invalid));
    }
    let preferences = input
        .preferences
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    if let Err(invalid) = check_preferences(&preferences) {
        problems.push(("preferences", invalid));
    }
    match (email, name) {
        (Some(email), Some(name)) if problems.is_empty() => Ok(Checked {
            email,
            name,
            preferences,
        }),
        _ => Err(AuthError::Invalid(problems)),
    }
}

/// Creates a pending account and queues its verification mail, with the audit event, in
/// one transaction.
pub async fn register(
    services: &Services,
    input: Registration,
    meta: &RequestMeta,
) -> Result<User, AuthError> {
    let checked = check(&input)?;
    let hash = services.passwords.hash(&input.password).await?;
    let (sealed, index) = seal_email(services, &checked.email)?;
    let id = Uuid::now_v7();

    let mut tx = services.db.begin().await?;
    let user = users::insert(
        &mut *tx,
        &services.cipher,
        &NewUser {
            id,
            email: &sealed,
            email_blind_index: &index,
            email_verified: false,
            password_hash: Some(&hash),
            name: checked.name.as_str(),
            role: Role::User,
            status: Status::PendingVerification,
            preferences: &checked.preferences,
        },
    )
    .await
    .map_err(email_taken)?;
    mail_token(
        &mut tx,
        services,
        TokenPurpose::EmailVerification,
        id,
        checked.email.as_str(),
        checked.name.as_str(),
        None,
    )
    .await?;
    audit::repo::insert(
        &mut *tx,
        &Event::success(Action::UserRegistered, Some(id), Some(id), meta),
    )
    .await?;
    tx.commit().await?;
    services.outbox_wake.notify_one();
    Ok(user)
}

/// Uses a verification token: activates the account, or completes an email change.
pub async fn verify_email(
    services: &Services,
    token: &str,
    meta: &RequestMeta,
) -> Result<User, AuthError> {
    if !crypto::looks_like_token(token) {
        return Err(AuthError::InvalidVerificationToken);
    }
    let hash = crypto::hash_token(token);
    let mut tx = services.db.begin().await?;
    let found = one_time::find(
        &mut *tx,
        &hash,
        &[TokenPurpose::EmailVerification, TokenPurpose::EmailChange],
        true,
    )
    .await?;
    let Some(found) = found.filter(|t| t.usable) else {
        return Err(AuthError::InvalidVerificationToken);
    };
    let action = match (&found.purpose, &found.new_email) {
        (TokenPurpose::EmailChange, Some((sealed, index))) => {
            users::change_email(&mut *tx, found.user_id, sealed, index)
                .await
                .map_err(email_taken)?;
            Action::UserEmailChanged
        }
        _ => {
            users::mark_email_verified(&mut *tx, found.user_id).await?;
            Action::UserEmailVerified
        }
    };
    one_time::mark_used(&mut *tx, found.id).await?;
    audit::repo::insert(
        &mut *tx,
        &Event::success(action, Some(found.user_id), Some(found.user_id), meta),
    )
    .await?;
    let user = users::find(&mut *tx, &services.cipher, found.user_id)
        .await?
        .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("token of a missing user")))?;
    tx.commit().await?;
    Ok(user)
}

/// Sends a fresh verification link to a pending account; does nothing, silently, for any
/// other address (the answer must not reveal which addresses exist).
pub async fn resend_verification(services: &Services, email: &str) -> Result<(), AuthError> {
    let email = Email::parse(email).map_err(|i| AuthError::invalid("email", i))?;
    let Some(user) = users::find_by_email(
        &services.db,
        &services.cipher,
        &email_index(services, &email),
    )
    .await?
    else {
        return Ok(());
    };
    if user.status != Status::PendingVerification || user.email_verified {
        return Ok(());
    }
    let mut tx = services.db.begin().await?;
    // Only the newest link works: older ones are retired.
    one_time::retire_open(&mut *tx, user.id, &[TokenPurpose::EmailVerification]).await?;
    mail_token(
        &mut tx,
        services,
        TokenPurpose::EmailVerification,
        user.id,
        &user.email,
        &user.name,
        None,
    )
    .await?;
    tx.commit().await?;
    services.outbox_wake.notify_one();
    Ok(())
}

/// How an admin account came to be, for its audit record.
#[derive(Debug, Clone, Copy)]
pub enum AdminOrigin {
    CommandLine,
    Bootstrap,
}

/// Creates an active, verified admin (command line, or `BOOTSTRAP_ADMIN_*` at start).
pub async fn create_admin(
    services: &Services,
    email: &str,
    name: &str,
    password: &str,
    origin: AdminOrigin,
) -> Result<User, AuthError> {
    let checked = check(&Registration {
        email: email.to_owned(),
        password: password.to_owned(),
        name: name.to_owned(),
        preferences: None,
    })?;
    let hash = services.passwords.hash(password).await?;
    let (sealed, index) = seal_email(services, &checked.email)?;
    let id = Uuid::now_v7();
    let meta = RequestMeta::system();
    let mut tx = services.db.begin().await?;
    let user = users::insert(
        &mut *tx,
        &services.cipher,
        &NewUser {
            id,
            email: &sealed,
            email_blind_index: &index,
            email_verified: true,
            password_hash: Some(&hash),
            name: checked.name.as_str(),
            role: Role::Admin,
            status: Status::Active,
            preferences: &checked.preferences,
        },
    )
    .await
    .map_err(email_taken)?;
    let via = match origin {
        AdminOrigin::CommandLine => "command_line",
        AdminOrigin::Bootstrap => "bootstrap",
    };
    let event = Event::success(Action::UserCreated, None, Some(id), &meta)
        .with_details(serde_json::json!({"role": "admin", "via": via}));
    audit::repo::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(user)
}

/// Creates the `BOOTSTRAP_ADMIN_*` admin if the settings name one and no admin exists.
pub async fn bootstrap_admin(services: &Services) -> Result<(), AuthError> {
    let config = &services.settings.config;
    let (Some(email), Some(password)) = (
        &config.bootstrap_admin_email,
        &config.bootstrap_admin_password,
    ) else {
        return Ok(());
    };
    if users::admin_exists(&services.db).await? {
        return Ok(());
    }
    match create_admin(
        services,
        email,
        "Administrator",
        password.expose(),
        AdminOrigin::Bootstrap,
    )
    .await
    {
        Ok(user) => {
            tracing::info!(user_id = %user.id, "bootstrap admin created");
            Ok(())
        }
        // Another instance starting at the same moment created it.
        Err(AuthError::EmailTaken) => Ok(()),
        Err(error) => Err(error),
    }
}
