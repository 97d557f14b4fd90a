//! Avatars: an upload is checked and re-encoded off the async runtime
//! ([`crate::images`]), then stored with its audit record; stored avatars are served to
//! anyone.

use uuid::Uuid;

use crate::db::avatars::{self, Avatar};
use crate::db::{audit, users};
use crate::deps::Deps;
use crate::images::UploadError;
use crate::model::{Action, Event, User};
use crate::request::RequestMeta;

/// Why an avatar operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AvatarError {
    /// Not a PNG, JPEG or WebP image.
    #[error("not a PNG, JPEG or WebP image")]
    Unsupported,
    /// Larger than the upload limit, or declaring too many pixels.
    #[error("the image is too large")]
    TooLarge,
    /// The user has no avatar, or is deactivated.
    #[error("no avatar")]
    NoAvatar,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<UploadError> for AvatarError {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::Unsupported => Self::Unsupported,
            UploadError::TooLarge => Self::TooLarge,
            UploadError::Failed(e) => Self::Internal(anyhow::anyhow!("avatar processing: {e}")),
        }
    }
}

/// Replaces the caller's avatar; returns the user with its new avatar URL.
pub async fn set(
    deps: &Deps,
    user: &User,
    upload: Vec<u8>,
    meta: &RequestMeta,
) -> Result<User, AvatarError> {
    let processed = deps.images.process(upload).await?;
    let mut tx = deps.db.begin().await?;
    avatars::upsert(&mut *tx, user.id, processed.content_type, &processed.data).await?;
    let event = Event::success(Action::UserAvatarUpdated, Some(user.id), Some(user.id), meta).with_details(
        serde_json::json!({"content_type": processed.content_type, "width": processed.width, "height": processed.height}),
    );
    audit::insert(&mut *tx, &event).await?;
    let user = users::find(&mut *tx, &deps.cipher, user.id)
        .await?
        .ok_or_else(|| AvatarError::Internal(anyhow::anyhow!("the caller vanished")))?;
    tx.commit().await?;
    Ok(user)
}

/// Removes the caller's avatar (nothing happens if there is none).
pub async fn remove(deps: &Deps, user: &User, meta: &RequestMeta) -> Result<(), AvatarError> {
    let mut tx = deps.db.begin().await?;
    if avatars::delete(&mut *tx, user.id).await? {
        let event = Event::success(
            Action::UserAvatarRemoved,
            Some(user.id),
            Some(user.id),
            meta,
        );
        audit::insert(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The stored avatar of an active or pending user, for public serving.
pub async fn get(deps: &Deps, user_id: Uuid) -> Result<Avatar, AvatarError> {
    avatars::find_public(&deps.db, user_id)
        .await?
        .ok_or(AvatarError::NoAvatar)
}
