//! Creating an account: the one path for self-registration, administrators' invitations
//! and creations, the command line and the bootstrap admin. The [`Origin`] decides the
//! role, the status, the mail and the audit record.

use uuid::Uuid;

use crate::db::audit;
use crate::db::mail::{self, Recipient};
use crate::db::one_time::Purpose as TokenPurpose;
use crate::db::users::{self, EMAIL_UNIQUE, NewUser};
use crate::deps::Deps;
use crate::model::preferences::check_preferences;
use crate::model::{Action, Email, Event, Name, Role, Status, User};
use crate::passwords::{self, HashError};
use crate::rbac::{self, Permission};
use crate::request::RequestMeta;
use crate::secret::Secret;
use crate::validation::{self, FieldProblems, Invalid};

/// What is known of the person.
#[derive(Debug, Default)]
pub struct NewAccount {
    pub email: String,
    pub name: String,
    /// Required except when an admin invites the person to choose one.
    pub password: Option<Secret<String>>,
    pub preferences: Option<serde_json::Value>,
}

/// How the account comes to be.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A person registering: role `user`, pending until the mailed link is used.
    SelfRegistered,
    /// An admin creating it: without a password an invitation to choose one (7 days);
    /// with one, active if the address is declared verified, else pending with a
    /// verification mail.
    Admin {
        actor: &'a User,
        role: Role,
        email_verified: bool,
    },
    /// `gatehouse create-admin`: an active, verified admin.
    CommandLine,
    /// `BOOTSTRAP_ADMIN_*` at start: an active, verified admin.
    Bootstrap,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid input: {}", crate::validation::describe(.0))]
    Invalid(FieldProblems),
    #[error("an account with this email address exists")]
    EmailTaken,
    #[error("the caller may not create accounts")]
    Forbidden,
    #[error("password hashing is unavailable")]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What the origin decides.
struct Decided {
    role: Role,
    email_verified: bool,
    password_required: bool,
}

impl<'a> Origin<'a> {
    fn decide(self) -> Decided {
        match self {
            Self::SelfRegistered => Decided {
                role: Role::User,
                email_verified: false,
                password_required: true,
            },
            Self::Admin {
                role,
                email_verified,
                ..
            } => Decided {
                role,
                email_verified,
                password_required: false,
            },
            Self::CommandLine | Self::Bootstrap => Decided {
                role: Role::Admin,
                email_verified: true,
                password_required: true,
            },
        }
    }

    fn actor(self) -> Option<&'a User> {
        match self {
            Self::Admin { actor, .. } => Some(actor),
            _ => None,
        }
    }
}

/// The checked input.
struct Checked {
    email: Email,
    name: Name,
    preferences: serde_json::Value,
}

fn check(input: &NewAccount, password_required: bool) -> Result<Checked, AccountError> {
    let mut problems: FieldProblems = Vec::new();
    let email = validation::field(&mut problems, "email", Email::parse(&input.email));
    let name = validation::field(&mut problems, "name", Name::parse(&input.name));
    match &input.password {
        Some(password) => {
            for invalid in passwords::check_rules(password.expose(), email.as_ref()) {
                problems.push(("password", invalid));
            }
        }
        None if password_required => {
            problems.push((
                "password",
                Invalid::new("required", "a password is required"),
            ));
        }
        None => {}
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
        _ => Err(AccountError::Invalid(problems)),
    }
}

/// Creates an account as its origin decides, with its mail and audit record, in one
/// transaction. The password is hashed before the transaction begins.
pub async fn create(
    deps: &Deps,
    origin: Origin<'_>,
    input: NewAccount,
    meta: &RequestMeta,
) -> Result<User, AccountError> {
    if let Some(actor) = origin.actor() {
        rbac::may_attempt(actor, Permission::CreateUser, None)
            .map_err(|_| AccountError::Forbidden)?;
    }
    let decided = origin.decide();
    let checked = check(&input, decided.password_required)?;
    let hash = match &input.password {
        Some(password) => Some(deps.passwords.hash(password.expose()).await?),
        None => None,
    };
    let active = hash.is_some() && decided.email_verified;
    // Without a password: an invitation to choose one; unverified: a verification link.
    let mailed = match (&hash, active) {
        (None, _) => Some(TokenPurpose::Invitation),
        (Some(_), false) => Some(TokenPurpose::EmailVerification),
        (Some(_), true) => None,
    };
    let (sealed, index) = deps
        .seal_email(&checked.email)
        .map_err(|e| AccountError::Internal(e.into()))?;
    let id = Uuid::now_v7();

    let mut tx = deps.db.begin().await?;
    let user = users::insert(
        &mut *tx,
        &deps.cipher,
        &NewUser {
            id,
            email: &sealed,
            email_blind_index: &index,
            email_verified: decided.email_verified,
            password_hash: hash.as_deref(),
            name: checked.name.as_str(),
            role: decided.role,
            status: if active {
                Status::Active
            } else {
                Status::PendingVerification
            },
            preferences: &checked.preferences,
        },
    )
    .await
    .map_err(email_taken)?;
    if let Some(purpose) = mailed {
        // Verification and invitation mail goes to an address not yet proven: no name.
        let to = Recipient::unproven(checked.email.as_str());
        mail::send_token(
            &mut tx,
            &deps.cipher,
            deps.public_url(),
            purpose,
            id,
            to,
            None,
        )
        .await?;
    }
    audit::insert(
        &mut *tx,
        &audit_event(origin, &decided, id, hash.is_none(), meta),
    )
    .await?;
    tx.commit().await?;
    if mailed.is_some() {
        deps.outbox_wake.notify_one();
    }
    Ok(user)
}

fn audit_event<'m>(
    origin: Origin<'_>,
    decided: &Decided,
    id: Uuid,
    invited: bool,
    meta: &'m RequestMeta,
) -> Event<'m> {
    match origin {
        Origin::SelfRegistered => Event::success(Action::UserRegistered, Some(id), Some(id), meta),
        Origin::Admin { actor, .. } => {
            Event::success(Action::UserCreated, Some(actor.id), Some(id), meta).with_details(
                serde_json::json!({
                    "role": decided.role,
                    "invited": invited,
                    "email_verified": decided.email_verified,
                }),
            )
        }
        Origin::CommandLine | Origin::Bootstrap => {
            let via = if matches!(origin, Origin::CommandLine) {
                "command_line"
            } else {
                "bootstrap"
            };
            Event::success(Action::UserCreated, None, Some(id), meta)
                .with_details(serde_json::json!({"role": decided.role, "via": via}))
        }
    }
}

/// A unique violation on the email index means the address is taken.
fn email_taken(error: sqlx::Error) -> AccountError {
    if crate::db::violates(&error, EMAIL_UNIQUE) {
        AccountError::EmailTaken
    } else {
        AccountError::Database(error)
    }
}

/// Creates the `BOOTSTRAP_ADMIN_*` admin if the settings name one and no admin exists.
pub async fn bootstrap_admin(deps: &Deps) -> Result<(), AccountError> {
    let Some(admin) = &deps.settings.bootstrap_admin else {
        return Ok(());
    };
    if users::admin_exists(&deps.db).await? {
        return Ok(());
    }
    let input = NewAccount {
        email: admin.email.clone(),
        name: "Administrator".to_owned(),
        password: Some(admin.password.clone()),
        preferences: None,
    };
    match create(deps, Origin::Bootstrap, input, &RequestMeta::system()).await {
        Ok(user) => {
            tracing::info!(user_id = %user.id, "bootstrap admin created");
            Ok(())
        }
        // Another instance starting at the same moment created it.
        Err(AccountError::EmailTaken) => Ok(()),
        Err(error) => Err(error),
    }
}
