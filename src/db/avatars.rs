//! SQL of avatars.

use sha2::{Digest, Sha256};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A stored avatar.
#[derive(Debug)]
pub struct Avatar {
    pub content_type: String,
    pub data: Vec<u8>,
    pub etag: String,
}

/// Stores (or replaces) a user's avatar; the ETag is a hash of the bytes.
pub async fn upsert<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    content_type: &str,
    data: &[u8],
) -> Result<(), sqlx::Error> {
    let digest = Sha256::digest(data);
    let etag = format!(
        "\"{}\"",
        digest
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    sqlx::query!(
        "INSERT INTO avatars (user_id, content_type, data, etag) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET content_type = $2, data = $3, etag = $4",
        user_id,
        content_type,
        data,
        etag,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Removes a user's avatar; false if there was none.
pub async fn delete<'e>(executor: impl PgExecutor<'e>, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!("DELETE FROM avatars WHERE user_id = $1", user_id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The avatar of a user who is not deactivated.
pub async fn find_public<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<Option<Avatar>, sqlx::Error> {
    sqlx::query_as!(
        Avatar,
        "SELECT a.content_type, a.data, a.etag FROM avatars a JOIN users u ON u.id = a.user_id
         WHERE a.user_id = $1 AND u.status <> 'deactivated'",
        user_id,
    )
    .fetch_optional(executor)
    .await
}
