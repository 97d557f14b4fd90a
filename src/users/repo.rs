//! SQL of users. Email addresses go in sealed with their blind index and come out opened.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use super::model::{Role, Status, User};
use crate::crypto::{FieldCipher, Purpose, Sealed};

/// Columns of a user as read by every query here.
pub(crate) const USER_COLUMNS: &str = "u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name, \
     u.role, u.status, u.preferences, u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, \
     EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS has_avatar";

/// Name of the unique constraint on the email blind index.
pub const EMAIL_UNIQUE: &str = "users_email_blind_index_key";

#[derive(FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email_ciphertext: Vec<u8>,
    email_key_id: String,
    email_verified_at: Option<DateTime<Utc>>,
    name: String,
    role: String,
    status: String,
    preferences: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
    deactivated_at: Option<DateTime<Utc>>,
    has_avatar: bool,
}

impl UserRow {
    /// Opens the email and checks the enumerations.
    pub(crate) fn into_user(self, cipher: &FieldCipher) -> Result<User, sqlx::Error> {
        let email = cipher
            .decrypt_string(Purpose::Email, &self.email_key_id, &self.email_ciphertext)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let role = Role::parse(&self.role).ok_or_else(|| decode_error("role", &self.role))?;
        let status =
            Status::parse(&self.status).ok_or_else(|| decode_error("status", &self.status))?;
        Ok(User {
            id: self.id,
            email,
            email_verified: self.email_verified_at.is_some(),
            name: self.name,
            role,
            status,
            has_avatar: self.has_avatar,
            preferences: self.preferences,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
            deactivated_at: self.deactivated_at,
        })
    }
}

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {column} `{value}`").into())
}

/// A user about to be inserted.
pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a Sealed,
    pub email_blind_index: &'a [u8],
    pub email_verified: bool,
    pub password_hash: Option<&'a str>,
    pub name: &'a str,
    pub role: Role,
    pub status: Status,
    pub preferences: &'a serde_json::Value,
}

/// What login needs to decide, without opening the email.
#[derive(Debug, FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: Option<String>,
    pub role: String,
    pub status: String,
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// Inserts a user and returns it; a taken address fails on [`EMAIL_UNIQUE`].
pub async fn insert<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    user: &NewUser<'_>,
) -> Result<User, sqlx::Error> {
    let row: UserRow = sqlx::query_as(&format!(
        "INSERT INTO users AS u (id, email_ciphertext, email_key_id, email_blind_index, email_verified_at,
                                 password_hash, name, role, status, preferences)
         VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END, $6, $7, $8, $9, $10)
         RETURNING {USER_COLUMNS}"
    ))
    .bind(user.id)
    .bind(&user.email.bytes)
    .bind(&user.email.key_id)
    .bind(user.email_blind_index)
    .bind(user.email_verified)
    .bind(user.password_hash)
    .bind(user.name)
    .bind(user.role.as_str())
    .bind(user.status.as_str())
    .bind(user.preferences)
    .fetch_one(executor)
    .await?;
    row.into_user(cipher)
}

/// One user by id.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?;
    row.map(|r| r.into_user(cipher)).transpose()
}

/// The user with this email address (by blind index).
pub async fn find_by_email<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    blind_index: &[u8],
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.email_blind_index = $1"
    ))
    .bind(blind_index)
    .fetch_optional(executor)
    .await?;
    row.map(|r| r.into_user(cipher)).transpose()
}

/// Login facts of the user with this email address.
pub async fn credentials_by_email<'e>(
    executor: impl PgExecutor<'e>,
    blind_index: &[u8],
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, password_hash, role, status, email_verified_at FROM users WHERE email_blind_index = $1",
    )
    .bind(blind_index)
    .fetch_optional(executor)
    .await
}

/// Marks the address verified; a pending account becomes active.
pub async fn mark_email_verified<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()),
                status = CASE WHEN status = 'pending_verification' THEN 'active' ELSE status END
         WHERE id = $1",
    )
    .bind(id)
    .execute(executor)
    .await?;
    Ok(())
}

/// Replaces the address (already verified by the token that carried it).
pub async fn change_email<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    email: &Sealed,
    blind_index: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email_ciphertext = $2, email_key_id = $3, email_blind_index = $4,
                email_verified_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&email.bytes)
    .bind(&email.key_id)
    .bind(blind_index)
    .execute(executor)
    .await?;
    Ok(())
}

/// Stores a new password hash.
pub async fn set_password<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(executor)
        .await?;
    Ok(())
}

/// Records a successful login.
pub async fn record_login<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET last_login_at = now(), failed_login_count = 0, login_blocked_until = NULL
         WHERE id = $1",
    )
    .bind(id)
    .execute(executor)
    .await?;
    Ok(())
}

/// True when at least one admin account exists, whatever its status.
pub async fn admin_exists<'e>(executor: impl PgExecutor<'e>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')")
        .fetch_one(executor)
        .await
}
