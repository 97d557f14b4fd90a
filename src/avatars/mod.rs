//! Avatars: uploaded images are decoded by content, bounded before decoding, scaled to fit
//! 512x512, re-encoded without metadata, and stored in PostgreSQL.

pub mod image;
pub mod repo;

use std::sync::Arc;

use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::audit::{self, Action, Event};
use crate::request::RequestMeta;
use crate::services::Services;
use crate::users::User;
use crate::users::error::UserError;
use crate::users::repo as users;

pub use self::image::{AvatarError, MAX_UPLOAD_BYTES};

/// Decodes at most this many images at once: decoding is CPU- and memory-heavy.
pub const CONCURRENT_DECODES: usize = 2;

/// A bounded pool for image work, off the async runtime.
#[derive(Clone)]
pub struct ImageWorkers(Arc<Semaphore>);

impl Default for ImageWorkers {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(CONCURRENT_DECODES)))
    }
}

impl ImageWorkers {
    async fn process(&self, upload: Vec<u8>) -> Result<image::Processed, UserError> {
        let _permit = self
            .0
            .acquire()
            .await
            .map_err(|e| UserError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || image::process(&upload))
            .await
            .map_err(|e| UserError::Internal(e.into()))?
            .map_err(UserError::from)
    }
}

impl From<AvatarError> for UserError {
    fn from(error: AvatarError) -> Self {
        match error {
            AvatarError::Unsupported => {
                Self::UnsupportedMedia("The image must be a PNG, JPEG or WebP file.")
            }
            AvatarError::TooLarge => Self::TooLarge,
            AvatarError::Encode(e) => {
                Self::Internal(anyhow::anyhow!("avatar encoding failed: {e}"))
            }
        }
    }
}

/// Replaces the caller's avatar; returns the user with its new avatar URL.
pub async fn set(
    services: &Services,
    user: &User,
    upload: Vec<u8>,
    meta: &RequestMeta,
) -> Result<User, UserError> {
    let processed = services.images.process(upload).await?;
    let mut tx = services.db.begin().await?;
    repo::upsert(&mut *tx, user.id, processed.content_type, &processed.data).await?;
    let event = Event::success(Action::UserAvatarUpdated, Some(user.id), Some(user.id), meta).with_details(
        serde_json::json!({"content_type": processed.content_type, "width": processed.width, "height": processed.height}),
    );
    audit::repo::insert(&mut *tx, &event).await?;
    let user = users::find(&mut *tx, &services.cipher, user.id)
        .await?
        .ok_or(UserError::NotFound)?;
    tx.commit().await?;
    Ok(user)
}

/// Removes the caller's avatar (nothing happens if there is none).
pub async fn remove(services: &Services, user: &User, meta: &RequestMeta) -> Result<(), UserError> {
    let mut tx = services.db.begin().await?;
    if repo::delete(&mut *tx, user.id).await? {
        let event = Event::success(
            Action::UserAvatarRemoved,
            Some(user.id),
            Some(user.id),
            meta,
        );
        audit::repo::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The stored avatar of an active or pending user, for public serving.
pub async fn get(services: &Services, user_id: Uuid) -> Result<repo::Avatar, UserError> {
    repo::find_public(&services.db, user_id)
        .await?
        .ok_or(UserError::NotFound)
}
