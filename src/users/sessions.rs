//! The signed-in person's own sessions: listing them and ending one.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::audit;
use crate::db::sessions::{self, EndReason};
use crate::deps::Deps;
use crate::model::{Action, Authenticated, Event};
use crate::request::RequestMeta;

/// Why a session operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No open session of the caller has this id.
    #[error("no such session")]
    NoSuchSession,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// An open session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub current: bool,
}

/// The caller's open sessions, newest first.
pub async fn list(deps: &Deps, caller: &Authenticated) -> Result<Vec<SessionInfo>, SessionError> {
    let open = sessions::list_open(&deps.db, caller.user.id).await?;
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
pub async fn revoke(
    deps: &Deps,
    caller: &Authenticated,
    session_id: Uuid,
    meta: &RequestMeta,
) -> Result<(), SessionError> {
    let user_id = caller.user.id;
    let mut tx = deps.db.begin().await?;
    if !sessions::end_own(&mut *tx, user_id, session_id, EndReason::Revoked).await? {
        return Err(SessionError::NoSuchSession);
    }
    let event = Event::success(
        Action::UserSessionRevoked,
        Some(user_id),
        Some(user_id),
        meta,
    )
    .with_details(serde_json::json!({"session_id": session_id}));
    audit::insert(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
