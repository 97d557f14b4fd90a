//! SQL of moving users in and out: the batched insert of an import (users and their
//! `user.imported` events in one statement), what a batch would collide with, the keys a
//! dry run has already counted, and the export's streamed read.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::PgConnection;
use uuid::Uuid;

use super::users::UserRow;
use crate::crypto::FieldCipher;
use crate::model::{Role, Status, User};
use crate::request::RequestMeta;

/// Users to insert, column by column (each column is one array parameter).
#[derive(Debug, Default)]
pub struct Batch {
    pub ids: Vec<Uuid>,
    pub email_ciphertexts: Vec<Vec<u8>>,
    pub email_key_ids: Vec<String>,
    pub email_blind_indexes: Vec<Vec<u8>>,
    pub email_verified: Vec<bool>,
    pub password_hashes: Vec<Option<String>>,
    pub names: Vec<String>,
    pub roles: Vec<String>,
    pub statuses: Vec<String>,
    pub preferences: Vec<serde_json::Value>,
    pub created_at: Vec<Option<DateTime<Utc>>>,
    pub external_ids: Vec<Option<String>>,
    /// The id of each user's `user.imported` event.
    pub event_ids: Vec<Uuid>,
}

impl Batch {
    /// Users in the batch.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True without users.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Which of these addresses (blind indexes) and external ids are taken already.
pub async fn taken(
    conn: &mut PgConnection,
    blind_indexes: &[Vec<u8>],
    external_ids: &[String],
) -> Result<(HashSet<Vec<u8>>, HashSet<String>), sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT email_blind_index, external_id FROM users
         WHERE email_blind_index = ANY($1) OR external_id = ANY($2)",
        blind_indexes,
        external_ids,
    )
    .fetch_all(conn)
    .await?;
    let mut emails = HashSet::new();
    let mut externals = HashSet::new();
    for row in rows {
        emails.insert(row.email_blind_index);
        if let Some(id) = row.external_id {
            externals.insert(id);
        }
    }
    Ok((emails, externals))
}

/// Inserts the batch with one `user.imported` event per user created, and returns the ids
/// created. A user whose address (or external id) was taken meanwhile is left out, not an
/// error: the caller counts it as skipped.
pub async fn insert_batch(
    conn: &mut PgConnection,
    batch: &Batch,
    actor_id: Option<Uuid>,
    meta: &RequestMeta,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH input AS (
               SELECT * FROM UNNEST($1::uuid[], $2::bytea[], $3::text[], $4::bytea[], $5::bool[],
                                    $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[],
                                    $11::timestamptz[], $12::text[], $13::uuid[])
                   AS t(id, email_ciphertext, email_key_id, email_blind_index, email_verified,
                        password_hash, name, role, status, preferences, created_at, external_id,
                        event_id)
           ), created AS (
               INSERT INTO users (id, email_ciphertext, email_key_id, email_blind_index,
                                  email_verified_at, password_hash, name, role, status,
                                  preferences, created_at, deactivated_at, external_id)
               SELECT id, email_ciphertext, email_key_id, email_blind_index,
                      CASE WHEN email_verified THEN now() END, password_hash, name, role, status,
                      preferences, COALESCE(created_at, now()),
                      CASE WHEN status = 'deactivated' THEN now() END, external_id
               FROM input
               ON CONFLICT DO NOTHING
               RETURNING id
           ), recorded AS (
               INSERT INTO audit_events
                   (id, action, outcome, actor_id, target_id, ip, user_agent, request_id, details)
               SELECT i.event_id, 'user.imported', 'success', $14, i.id, $15, $16, $17,
                      CASE WHEN i.external_id IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('external_id', i.external_id) END
               FROM input i JOIN created c ON c.id = i.id
           )
           SELECT id AS "id!" FROM created"#,
        &batch.ids,
        &batch.email_ciphertexts,
        &batch.email_key_ids,
        &batch.email_blind_indexes,
        &batch.email_verified,
        &batch.password_hashes as &[Option<String>],
        &batch.names,
        &batch.roles,
        &batch.statuses,
        &batch.preferences,
        &batch.created_at as &[Option<DateTime<Utc>>],
        &batch.external_ids as &[Option<String>],
        &batch.event_ids,
        actor_id,
        meta.ip.map(ipnet::IpNet::from),
        meta.user_agent.as_deref(),
        meta.request_id.as_deref(),
    )
    .fetch_all(conn)
    .await
}

/// A dry run's memory of what earlier batches would have created, in a temporary table
/// of its own connection: a repeated address or external id further down the file is
/// found without holding the whole file in the service's memory.
pub async fn start_dry_run(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TEMPORARY TABLE IF NOT EXISTS import_dry_run
             (kind \"char\" NOT NULL, key bytea NOT NULL, PRIMARY KEY (kind, key))",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("TRUNCATE import_dry_run").execute(conn).await?;
    Ok(())
}

/// Which of these addresses and external ids an earlier batch of the dry run would have
/// created.
pub async fn dry_run_seen(
    conn: &mut PgConnection,
    blind_indexes: &[Vec<u8>],
    external_ids: &[String],
) -> Result<(HashSet<Vec<u8>>, HashSet<String>), sqlx::Error> {
    let external_keys: Vec<Vec<u8>> = external_ids
        .iter()
        .map(|id| id.as_bytes().to_vec())
        .collect();
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT kind::text, key FROM import_dry_run
         WHERE (kind = 'e' AND key = ANY($1)) OR (kind = 'x' AND key = ANY($2))",
    )
    .bind(blind_indexes)
    .bind(&external_keys)
    .fetch_all(conn)
    .await?;
    let mut emails = HashSet::new();
    let mut externals = HashSet::new();
    for (kind, key) in rows {
        if kind == "e" {
            emails.insert(key);
        } else if let Ok(id) = String::from_utf8(key) {
            externals.insert(id);
        }
    }
    Ok((emails, externals))
}

/// Remembers what a batch of the dry run would have created.
pub async fn dry_run_remember(
    conn: &mut PgConnection,
    blind_indexes: &[Vec<u8>],
    external_ids: &[String],
) -> Result<(), sqlx::Error> {
    let external_keys: Vec<Vec<u8>> = external_ids
        .iter()
        .map(|id| id.as_bytes().to_vec())
        .collect();
    sqlx::query(
        "INSERT INTO import_dry_run (kind, key)
         SELECT 'e', unnest($1::bytea[]) UNION ALL SELECT 'x', unnest($2::bytea[])
         ON CONFLICT DO NOTHING",
    )
    .bind(blind_indexes)
    .bind(&external_keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a dry run: its table goes with it.
pub async fn end_dry_run(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DROP TABLE IF EXISTS import_dry_run")
        .execute(conn)
        .await?;
    Ok(())
}

/// Reads every user, deactivated ones too, oldest first, as the rows arrive (the result
/// is never held whole); `each` gets each user with its stored hash when `with_hashes`.
/// It returns `false` to stop early (the reader went away).
pub async fn export<F, Sent>(
    conn: &mut PgConnection,
    cipher: &FieldCipher,
    with_hashes: bool,
    mut each: F,
) -> Result<(), sqlx::Error>
where
    F: FnMut(User, Option<String>) -> Sent,
    Sent: std::future::Future<Output = bool>,
{
    let mut rows = sqlx::query!(
        r#"SELECT id, email_ciphertext, email_key_id, email_verified_at, name,
                  role AS "role: Role", status AS "status: Status", preferences, created_at,
                  updated_at, last_login_at, deactivated_at, external_id,
                  CASE WHEN $1 THEN password_hash END AS password_hash
           FROM users ORDER BY created_at, id"#,
        with_hashes,
    )
    .fetch(conn);
    while let Some(row) = rows.try_next().await? {
        let user = UserRow {
            id: row.id,
            email_ciphertext: row.email_ciphertext,
            email_key_id: row.email_key_id,
            email_verified_at: row.email_verified_at,
            name: row.name,
            role: row.role,
            status: row.status,
            preferences: row.preferences,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_login_at: row.last_login_at,
            deactivated_at: row.deactivated_at,
            external_id: row.external_id,
            has_avatar: false,
        }
        .into_user(cipher)?;
        if !each(user, row.password_hash).await {
            break;
        }
    }
    Ok(())
}
