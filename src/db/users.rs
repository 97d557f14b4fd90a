//! SQL of users. Email addresses go in sealed with their blind index and come out opened.
//!
//! Static statements are checked against the schema at build time (`query!`, with the
//! offline data in `.sqlx/`); only the listing, whose filters and order vary, is built at
//! run time.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::crypto::{FieldCipher, Purpose, Sealed};
use crate::model::listing::{ListFilter, SortField};
use crate::model::{Role, Status, User};

/// Name of the unique constraint on the email blind index.
pub const EMAIL_UNIQUE: &str = "users_email_blind_index_key";

/// A user as stored; the email is still sealed.
#[derive(FromRow)]
pub(super) struct UserRow {
    pub(super) id: Uuid,
    pub(super) email_ciphertext: Vec<u8>,
    pub(super) email_key_id: String,
    pub(super) email_verified_at: Option<DateTime<Utc>>,
    pub(super) name: String,
    pub(super) role: Role,
    pub(super) status: Status,
    pub(super) preferences: serde_json::Value,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) last_login_at: Option<DateTime<Utc>>,
    pub(super) deactivated_at: Option<DateTime<Utc>>,
    pub(super) external_id: Option<String>,
    pub(super) has_avatar: bool,
}

impl UserRow {
    /// Opens the email.
    pub(super) fn into_user(self, cipher: &FieldCipher) -> Result<User, sqlx::Error> {
        let email = cipher
            .decrypt_string(Purpose::Email, &self.email_key_id, &self.email_ciphertext)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(User {
            id: self.id,
            email,
            email_verified: self.email_verified_at.is_some(),
            name: self.name,
            role: self.role,
            status: self.status,
            has_avatar: self.has_avatar,
            preferences: self.preferences,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
            deactivated_at: self.deactivated_at,
            external_id: self.external_id,
        })
    }
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
#[derive(Debug)]
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: Option<String>,
    pub role: Role,
    pub status: Status,
    /// Two-step sign-in (TOTP) is on: a right password opens no session by itself.
    pub mfa: bool,
}

/// Inserts a user and returns it; a taken address fails on [`EMAIL_UNIQUE`].
pub async fn insert<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    user: &NewUser<'_>,
) -> Result<User, sqlx::Error> {
    let row = sqlx::query_as!(
        UserRow,
        r#"INSERT INTO users (id, email_ciphertext, email_key_id, email_blind_index, email_verified_at,
                              password_hash, name, role, status, preferences)
           VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END, $6, $7, $8, $9, $10)
           RETURNING id, email_ciphertext, email_key_id, email_verified_at, name,
                     role AS "role: Role", status AS "status: Status", preferences, created_at,
                     updated_at, last_login_at, deactivated_at, external_id, false AS "has_avatar!""#,
        user.id,
        user.email.bytes,
        user.email.key_id,
        user.email_blind_index,
        user.email_verified,
        user.password_hash,
        user.name,
        user.role as Role,
        user.status as Status,
        user.preferences,
    )
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
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name,
                  u.role AS "role: Role", u.status AS "status: Status", u.preferences,
                  u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.external_id,
                  EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS "has_avatar!"
           FROM users u WHERE u.id = $1"#,
        id,
    )
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
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name,
                  u.role AS "role: Role", u.status AS "status: Status", u.preferences,
                  u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.external_id,
                  EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS "has_avatar!"
           FROM users u WHERE u.email_blind_index = $1"#,
        blind_index,
    )
    .fetch_optional(executor)
    .await?;
    row.map(|r| r.into_user(cipher)).transpose()
}

/// Login facts of the user with this email address.
pub async fn credentials_by_email<'e>(
    executor: impl PgExecutor<'e>,
    blind_index: &[u8],
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as!(
        Credentials,
        r#"SELECT id, password_hash, role AS "role: Role", status AS "status: Status",
                  EXISTS (SELECT 1 FROM user_totp t
                          WHERE t.user_id = users.id AND t.confirmed_at IS NOT NULL) AS "mfa!"
           FROM users WHERE email_blind_index = $1"#,
        blind_index,
    )
    .fetch_optional(executor)
    .await
}

/// Marks the address verified; a pending account becomes active.
pub async fn mark_email_verified<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()),
                status = CASE WHEN status = 'pending_verification' THEN 'active' ELSE status END
         WHERE id = $1",
        id,
    )
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
    sqlx::query!(
        "UPDATE users SET email_ciphertext = $2, email_key_id = $3, email_blind_index = $4,
                email_verified_at = now()
         WHERE id = $1",
        id,
        email.bytes,
        email.key_id,
        blind_index,
    )
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
    sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id,
        hash
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Replaces a password hash with its upgrade, if it is still `old`; true when it was (of
/// two logins at once with the same old hash, one replaces it).
pub async fn upgrade_password_hash<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    old: &str,
    new: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
        id,
        old,
        new
    )
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One stored hash of each kind that is not the service's own Argon2id, a kind being the
/// format with its cost (the fields before the salt): what failed logins must not be told
/// apart from. A scan of every user: run once, at start, in the background.
pub async fn foreign_hash_samples<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT DISTINCT ON (kind) hash AS "hash!" FROM (
               SELECT password_hash AS hash,
                      -- As password_formats::kind: bcrypt's cost is its last field
                      -- before salt and output, which others keep apart.
                      CASE WHEN password_hash LIKE '$2%' OR password_hash LIKE 'bcrypt\_sha256$%'
                           THEN substring(password_hash from '^(.*)\$[^$]*$')
                           ELSE substring(password_hash from '^(.*)\$[^$]*\$[^$]*$')
                      END AS kind
               FROM users
               WHERE password_hash IS NOT NULL
                 AND password_hash NOT LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'
           ) AS foreign_hashes
           ORDER BY kind
           LIMIT 64"#
    )
    .fetch_all(executor)
    .await
}

/// Records a successful login.
pub async fn record_login<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE users SET last_login_at = now() WHERE id = $1", id)
        .execute(executor)
        .await?;
    Ok(())
}

/// True when at least one admin account exists, whatever its status.
pub async fn admin_exists<'e>(executor: impl PgExecutor<'e>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin') AS "exists!""#)
        .fetch_one(executor)
        .await
}

/// The stored password hash of a user (None: no such user, or no password yet).
pub async fn password_hash<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let hash = sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", id)
        .fetch_optional(executor)
        .await?;
    Ok(hash.flatten())
}

/// Name and preferences of a user, locked until the transaction ends (read-modify-write of
/// a merge patch).
pub async fn lock_profile<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<(String, serde_json::Value)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT name, preferences FROM users WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|r| (r.name, r.preferences)))
}

/// Stores name and preferences; returns the user.
pub async fn update_profile<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    id: Uuid,
    name: &str,
    preferences: &serde_json::Value,
) -> Result<User, sqlx::Error> {
    let row = sqlx::query_as!(
        UserRow,
        r#"UPDATE users AS u SET name = $2, preferences = $3 WHERE u.id = $1
           RETURNING u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name,
                     u.role AS "role: Role", u.status AS "status: Status", u.preferences,
                     u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.external_id,
                     EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS "has_avatar!""#,
        id,
        name,
        preferences,
    )
    .fetch_one(executor)
    .await?;
    row.into_user(cipher)
}

/// Sets the role; returns the user.
pub async fn set_role<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    id: Uuid,
    role: Role,
) -> Result<User, sqlx::Error> {
    let row = sqlx::query_as!(
        UserRow,
        r#"UPDATE users AS u SET role = $2 WHERE u.id = $1
           RETURNING u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name,
                     u.role AS "role: Role", u.status AS "status: Status", u.preferences,
                     u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.external_id,
                     EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS "has_avatar!""#,
        id,
        role as Role,
    )
    .fetch_one(executor)
    .await?;
    row.into_user(cipher)
}

/// Soft-deletes a user; false if it already was.
pub async fn deactivate<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE users SET status = 'deactivated', deactivated_at = now()
         WHERE id = $1 AND status <> 'deactivated'",
        id,
    )
    .execute(executor)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Brings a deactivated user back: active, or pending if its address was never verified.
pub async fn restore<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query_as!(
        UserRow,
        r#"UPDATE users AS u SET deactivated_at = NULL,
                  status = CASE WHEN u.email_verified_at IS NULL THEN 'pending_verification' ELSE 'active' END
           WHERE u.id = $1 AND u.status = 'deactivated'
           RETURNING u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name,
                     u.role AS "role: Role", u.status AS "status: Status", u.preferences,
                     u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.external_id,
                     EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS "has_avatar!""#,
        id,
    )
    .fetch_optional(executor)
    .await?;
    row.map(|r| r.into_user(cipher)).transpose()
}

/// Ids of the active admins, locked in id order until the transaction ends: the check
/// "never the last active admin" then holds even when two admins act at once.
pub async fn lock_active_admins<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE"
    )
    .fetch_all(executor)
    .await
}

/// A user's role and status, as locked by [`lock_parties`].
#[derive(Debug, Clone, Copy)]
pub struct Party {
    pub id: Uuid,
    pub role: Role,
    pub status: Status,
}

/// Locks the users `ids` (and, with `active_admins`, every active admin) in id order until
/// the transaction ends, and returns their role and status as they are now. One statement
/// in one order: two actions locking overlapping users cannot deadlock.
pub async fn lock_parties<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
    active_admins: bool,
) -> Result<Vec<Party>, sqlx::Error> {
    sqlx::query_as!(
        Party,
        r#"SELECT id, role AS "role: Role", status AS "status: Status" FROM users
           WHERE id = ANY($1) OR ($2 AND role = 'admin' AND status = 'active')
           ORDER BY id FOR UPDATE"#,
        ids,
        active_admins,
    )
    .fetch_all(executor)
    .await
}

/// Columns of a user as the listing reads them. The listing is built at run time (its
/// filters and order vary), so it cannot use the checked statements above; this is the
/// one place its columns are written.
const LISTED_COLUMNS: &str = "u.id, u.email_ciphertext, u.email_key_id, u.email_verified_at, u.name, \
     u.role, u.status, u.preferences, u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.external_id, \
     EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS has_avatar";

/// One page of users matching `filter`, and how many match in all.
///
/// The page is read first: a page that is neither full nor past the end tells the total by
/// itself, so a narrow search costs one query. Otherwise the total comes from the kept
/// per-(role, status) counts when only those filters are set, or from a count.
pub async fn list(
    pool: &sqlx::PgPool,
    cipher: &FieldCipher,
    filter: &ListFilter,
) -> Result<(i64, Vec<User>), sqlx::Error> {
    let mut page = QueryBuilder::<Postgres>::new(format!("SELECT {LISTED_COLUMNS} FROM "));
    // A name search finds its matches through the trigram index first, then sorts them.
    // Without the fence (OFFSET 0 keeps the subquery from being merged), PostgreSQL,
    // guessing that 1% of names match, walks the created_at index hoping to meet 20
    // matches early; for a name with 8 matches among 100,000 users that read every row
    // (75 ms instead of 0.3 ms).
    let fenced = filter.name_pattern.is_some();
    page.push(if fenced {
        "(SELECT * FROM users u"
    } else {
        "users u"
    });
    push_conditions(&mut page, filter);
    if fenced {
        page.push(" OFFSET 0) u");
    }
    // Columns come from an allow-list (the enum), never from the request.
    let column = match filter.sort {
        SortField::CreatedAt => "u.created_at",
        SortField::Name => "lower(u.name)",
        SortField::LastLoginAt => "u.last_login_at",
    };
    let direction = if filter.descending { "DESC" } else { "ASC" };
    // Only the last login can be missing (never logged in: last). The other columns are
    // NOT NULL, and leaving NULLS LAST off lets their indexes serve both directions.
    let nulls = match filter.sort {
        SortField::LastLoginAt => " NULLS LAST",
        SortField::CreatedAt | SortField::Name => "",
    };
    page.push(format!(
        " ORDER BY {column} {direction}{nulls}, u.id {direction}"
    ));
    page.push(" LIMIT ").push_bind(filter.paging.per_page);
    page.push(" OFFSET ").push_bind(filter.paging.offset);
    let rows: Vec<UserRow> = page.build_query_as().fetch_all(pool).await?;

    let shown = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let (offset, per_page) = (filter.paging.offset, filter.paging.per_page);
    let total = if (shown > 0 && shown < per_page) || (shown == 0 && offset == 0) {
        offset + shown
    } else {
        count(pool, filter).await?
    };
    let users = rows
        .into_iter()
        .map(|r| r.into_user(cipher))
        .collect::<Result<_, _>>()?;
    Ok((total, users))
}

/// How many users match `filter`.
async fn count(pool: &sqlx::PgPool, filter: &ListFilter) -> Result<i64, sqlx::Error> {
    let only_role_and_status = filter.email_index.is_none()
        && filter.external_id.is_none()
        && filter.name_pattern.is_none()
        && filter.created_after.is_none()
        && filter.created_before.is_none();
    if only_role_and_status {
        // The kept counts have the users table's role and status columns, under the same
        // alias, so the same conditions apply.
        let mut kept = QueryBuilder::<Postgres>::new(
            "SELECT COALESCE(sum(u.n), 0)::bigint FROM user_counts u WHERE TRUE",
        );
        push_role_and_status(&mut kept, filter);
        return kept.build_query_scalar().fetch_one(pool).await;
    }
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM users u");
    push_conditions(&mut count, filter);
    count.build_query_scalar().fetch_one(pool).await
}

fn push_conditions(query: &mut QueryBuilder<'_, Postgres>, filter: &ListFilter) {
    query.push(" WHERE TRUE");
    push_role_and_status(query, filter);
    if let Some(index) = &filter.email_index {
        query
            .push(" AND u.email_blind_index = ")
            .push_bind(index.clone());
    }
    if let Some(external_id) = &filter.external_id {
        query
            .push(" AND u.external_id = ")
            .push_bind(external_id.clone());
    }
    if let Some(pattern) = &filter.name_pattern {
        query
            .push(" AND lower(u.name) LIKE ")
            .push_bind(pattern.clone());
    }
    if let Some(after) = filter.created_after {
        query.push(" AND u.created_at > ").push_bind(after);
    }
    if let Some(before) = filter.created_before {
        query.push(" AND u.created_at < ").push_bind(before);
    }
}

/// Status (not deactivated unless asked for) and role, on a table aliased `u`.
fn push_role_and_status(query: &mut QueryBuilder<'_, Postgres>, filter: &ListFilter) {
    match filter.status {
        Some(status) => {
            query.push(" AND u.status = ").push_bind(status);
        }
        // Soft-deleted users stay out of listings unless asked for.
        None => {
            query.push(" AND u.status <> 'deactivated'");
        }
    }
    if let Some(role) = filter.role {
        query.push(" AND u.role = ").push_bind(role);
    }
}
