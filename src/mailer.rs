//! The mailer: a background worker that claims due messages from the outbox, delivers them through SMTP (or the log), and
//! records the outcome. No transaction is open while it talks to the mail server.
//!
//! Delivery is at least once: a message is marked sent after the server accepted it, so a
//! crash between the two sends it again when its lease runs out (60 s).

use std::sync::Arc;
use std::time::Duration;

use lettre::AsyncTransport;
use lettre::message::{Mailbox, MultiPart};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use crate::crypto::FieldCipher;
use crate::db::outbox::{self, Claimed};
use crate::deps::Deps;
use crate::mail::Transport;
use crate::mail::transport::TransportError;

/// How long a claimed message is reserved for the worker that claimed it.
pub const LEASE: Duration = Duration::from_secs(60);
/// Longest wait between two attempts at one message.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
const BATCH: i64 = 16;
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Failure of one delivery attempt.
#[derive(Debug)]
struct SendFailure {
    message: String,
    permanent: bool,
}

/// The worker's dependencies.
pub struct Worker {
    pub pool: PgPool,
    pub cipher: Arc<FieldCipher>,
    pub transport: Transport,
    pub from: Mailbox,
    pub wake: Arc<Notify>,
}

impl Worker {
    /// The worker of these dependencies: SMTP when `SMTP_URL` is set, the log otherwise.
    pub fn new(deps: &Deps) -> Result<Self, TransportError> {
        let settings = &deps.settings;
        let transport =
            Transport::from_config(settings.mail.smtp_url.as_ref().map(|s| s.expose().as_str()))?;
        Ok(Self {
            pool: deps.db.clone(),
            cipher: deps.cipher.clone(),
            transport,
            from: settings.mail.from.clone(),
            wake: deps.outbox_wake.clone(),
        })
    }

    /// Delivers until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut db_backoff = Duration::from_millis(500);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let idle = match self.deliver_due().await {
                Ok(delivered) => {
                    db_backoff = Duration::from_millis(500);
                    delivered == 0
                }
                Err(error) => {
                    tracing::warn!(%error, "email outbox: database unavailable, retrying");
                    tokio::select! {
                        () = tokio::time::sleep(db_backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    db_backoff = (db_backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if idle {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }

    /// Claims and delivers one batch; returns how many messages it handled.
    pub async fn deliver_due(&self) -> Result<usize, sqlx::Error> {
        let (claimed, unreadable) =
            outbox::claim_due(&self.pool, &self.cipher, BATCH, LEASE).await?;
        for row in &unreadable {
            tracing::error!(id = %row.id, reason = %row.reason, "email outbox: message cannot be opened; giving up");
            outbox::mark_failed(&self.pool, row.id, &row.reason, None).await?;
        }
        let handled = claimed.len() + unreadable.len();
        for message in claimed {
            match self.send(&message).await {
                Ok(()) => {
                    outbox::mark_sent(&self.pool, message.id).await?;
                    // One total, no count per template: a caller must not learn from the
                    // metrics whether its request sent a mail.
                    metrics::counter!("email_sent_total").increment(1);
                    tracing::info!(id = %message.id, template = %message.template, "email delivered");
                }
                Err(failure) => {
                    // SMTP servers echo the recipient in their errors; neither the stored
                    // error nor the log may hold it.
                    let error = redact(&failure.message, &message.to);
                    let retry = (!failure.permanent).then(|| backoff(message.attempts));
                    tracing::warn!(
                        id = %message.id, template = %message.template, attempts = message.attempts,
                        retry_in = ?retry, %error, "email delivery failed"
                    );
                    metrics::counter!("email_failures_total").increment(1);
                    outbox::mark_failed(&self.pool, message.id, &error, retry).await?;
                }
            }
        }
        Ok(handled)
    }

    async fn send(&self, message: &Claimed) -> Result<(), SendFailure> {
        match &self.transport {
            // Development only (production refuses to start without SMTP_URL): the whole
            // message, recipient and links included, so it can be followed by hand.
            Transport::Log => {
                tracing::info!(
                    to = %message.to, template = %message.template,
                    subject = %message.content.subject,
                    "email (development: SMTP_URL unset, not sent)\n{}", message.content.text
                );
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let to: Mailbox = message.to.parse().map_err(|e| SendFailure {
                    message: format!("bad recipient: {e}"),
                    permanent: true,
                })?;
                let email = lettre::Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(message.content.subject.clone())
                    .multipart(MultiPart::alternative_plain_html(
                        message.content.text.clone(),
                        message.content.html.clone(),
                    ))
                    .map_err(|e| SendFailure {
                        message: format!("cannot build message: {e}"),
                        permanent: true,
                    })?;
                smtp.send(email).await.map(|_| ()).map_err(|e| SendFailure {
                    permanent: e.is_permanent(),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// `text` with every occurrence of `address` (in any case) replaced by `<recipient>`.
pub fn redact(text: &str, address: &str) -> String {
    if address.is_empty() {
        return text.to_owned();
    }
    let lower_text = text.to_ascii_lowercase();
    let lower_address = address.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(found) = lower_text[from..].find(&lower_address) {
        let at = from + found;
        out.push_str(&text[from..at]);
        out.push_str("<recipient>");
        from = at + address.len();
    }
    out.push_str(&text[from..]);
    out
}

/// Wait before the next attempt: 2, 4, 8 … seconds after each failure, at most 5 minutes.
/// Transient failures are retried for as long as it takes: an outage delays mail, never
/// loses it.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 16).unsigned_abs();
    Duration::from_secs(2_u64.pow(exponent)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_cut_out_of_smtp_errors() {
        assert_eq!(
            redact(
                "550 5.1.1 <Ada@Example.com>: no such user (ada@example.com)",
                "ada@example.com"
            ),
            "550 5.1.1 <<recipient>>: no such user (<recipient>)"
        );
        assert_eq!(redact("421 try later", "ada@example.com"), "421 try later");
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let seconds = |attempts| backoff(attempts).as_secs();
        assert_eq!(seconds(1), 2);
        assert_eq!(seconds(2), 4);
        assert_eq!(seconds(5), 32);
        assert_eq!(seconds(9), 300);
        assert_eq!(seconds(1000), 300);
        assert_eq!(seconds(-3), 2);
    }
}
