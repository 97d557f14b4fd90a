//! SQL of the email outbox. Recipient and content are sealed; the content is erased once
//! the message is delivered.

use std::time::Duration;

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::crypto::{FieldCipher, Purpose};
use crate::mail::{Rendered, Template};

/// A message taken from the outbox for delivery.
#[derive(Debug)]
pub struct Claimed {
    pub id: Uuid,
    pub attempts: i32,
    pub template: String,
    pub to: String,
    pub content: Rendered,
}

struct ClaimedRow {
    id: Uuid,
    attempts: i32,
    template: String,
    key_id: String,
    recipient_ciphertext: Vec<u8>,
    content_ciphertext: Option<Vec<u8>>,
}

/// A claimed row that cannot be opened (key removed from the configuration, or tampered).
#[derive(Debug)]
pub struct Unreadable {
    pub id: Uuid,
    pub reason: String,
}

/// Queues a message; pass the transaction of the change that causes it.
pub async fn enqueue<'e>(
    executor: impl PgExecutor<'e>,
    cipher: &FieldCipher,
    template: Template,
    to: &str,
    content: &Rendered,
) -> Result<(), sqlx::Error> {
    let encode = |e: crate::crypto::CryptoError| sqlx::Error::Encode(Box::new(e));
    let recipient = cipher
        .encrypt(Purpose::Outbox, to.as_bytes())
        .map_err(encode)?;
    let json = serde_json::to_vec(content).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let sealed = cipher.encrypt(Purpose::Outbox, &json).map_err(encode)?;
    // Both values are sealed by the same (current) key, so one key id serves the row.
    sqlx::query!(
        "INSERT INTO email_outbox (id, template, key_id, recipient_ciphertext, content_ciphertext)
         VALUES ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        template as Template,
        sealed.key_id,
        recipient.bytes,
        sealed.bytes,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Claims up to `limit` due messages. One statement, so the rows are locked only while it
/// runs (SKIP LOCKED lets other instances claim other rows meanwhile); the claim is a lease:
/// a message whose sender dies becomes due again after `lease`.
pub async fn claim_due(
    pool: &PgPool,
    cipher: &FieldCipher,
    limit: i64,
    lease: Duration,
) -> Result<(Vec<Claimed>, Vec<Unreadable>), sqlx::Error> {
    let rows = sqlx::query_as!(
        ClaimedRow,
        "UPDATE email_outbox
         SET next_attempt_at = now() + $2, attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM email_outbox
             WHERE status = 'pending' AND next_attempt_at <= now()
             ORDER BY next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, attempts, template, key_id, recipient_ciphertext, content_ciphertext",
        limit,
        lease as Duration,
    )
    .fetch_all(pool)
    .await?;

    let mut claimed = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        let opened = cipher
            .decrypt_string(Purpose::Outbox, &row.key_id, &row.recipient_ciphertext)
            .map_err(|e| e.to_string())
            .and_then(|to| {
                let bytes = row
                    .content_ciphertext
                    .as_deref()
                    .ok_or("content already erased")?;
                let json = cipher
                    .decrypt(Purpose::Outbox, &row.key_id, bytes)
                    .map_err(|e| e.to_string())?;
                let content: Rendered = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
                Ok((to, content))
            });
        match opened {
            Ok((to, content)) => claimed.push(Claimed {
                id: row.id,
                attempts: row.attempts,
                template: row.template,
                to,
                content,
            }),
            Err(reason) => unreadable.push(Unreadable { id: row.id, reason }),
        }
    }
    Ok((claimed, unreadable))
}

/// Records delivery and erases the content (it holds a token).
pub async fn mark_sent(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE email_outbox SET status = 'sent', sent_at = now(), content_ciphertext = NULL, last_error = NULL
         WHERE id = $1",
        id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed attempt: retried after `retry_in`, or given up for good (the content
/// is erased then too).
pub async fn mark_failed(
    pool: &PgPool,
    id: Uuid,
    error: &str,
    retry_in: Option<Duration>,
) -> Result<(), sqlx::Error> {
    let error: String = error.chars().take(500).collect();
    match retry_in {
        Some(wait) => sqlx::query!(
            "UPDATE email_outbox SET last_error = $2, next_attempt_at = now() + $3 WHERE id = $1",
            id,
            error,
            wait as Duration,
        )
        .execute(pool)
        .await?,
        None => {
            sqlx::query!(
            "UPDATE email_outbox SET status = 'failed', last_error = $2, content_ciphertext = NULL
             WHERE id = $1",
            id,
            error,
        )
            .execute(pool)
            .await?
        }
    };
    Ok(())
}

/// Messages waiting to be delivered.
pub async fn backlog<'e>(executor: impl PgExecutor<'e>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "backlog!" FROM email_outbox WHERE status = 'pending'"#
    )
    .fetch_one(executor)
    .await
}
