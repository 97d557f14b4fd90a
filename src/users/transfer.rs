//! Moving users in and out: the NDJSON import (HTTP and command line, with a dry run) and
//! the export, both streamed.
//!
//! An import reads its input line by line and writes it in batches of [`BATCH`] users, each
//! batch one transaction holding the users and their `user.imported` events; memory holds
//! one batch whatever the size of the input. A batch first asks which of its addresses and
//! external ids are taken, so that an existing address is `skipped` (a re-run of the same
//! file changes nothing) and a taken external id fails its line. A dry run does the same
//! work and rolls each batch back, remembering what it would have created in a temporary
//! table of its own connection, so that a repeat further down the file is found too.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use sqlx::Connection;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::db::mail::{self, Recipient};
use crate::db::one_time::Purpose as TokenPurpose;
use crate::db::{audit, transfer};
use crate::deps::Deps;
use crate::model::transfer::{
    ExportedUser, ImportedUser, LineProblems, MAX_LINE_BYTES, parse_line,
};
use crate::model::{Action, Event, User};
use crate::password_formats;
use crate::rbac::{self, Permission};
use crate::request::RequestMeta;
use crate::validation::Invalid;

/// Users written per transaction.
pub const BATCH: usize = 1000;

/// Line errors kept in the report; the counts go on past them.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// Who moves the users: an admin over HTTP, or the command line on the server.
#[derive(Debug, Clone, Copy)]
pub enum Operator<'a> {
    Admin(&'a User),
    CommandLine,
}

impl Operator<'_> {
    /// Whether the operator may move users in and out (asked by `import` and `export`
    /// too; the HTTP import asks first, before it looks at the body).
    pub fn authorize(self) -> Result<(), TransferError> {
        match self {
            Operator::Admin(actor) => rbac::may_attempt(actor, Permission::TransferUsers, None)
                .map_err(|_| TransferError::Forbidden),
            Operator::CommandLine => Ok(()),
        }
    }

    fn actor_id(self) -> Option<Uuid> {
        match self {
            Operator::Admin(actor) => Some(actor.id),
            Operator::CommandLine => None,
        }
    }

    fn details(self, mut details: serde_json::Value) -> serde_json::Value {
        if let (Operator::CommandLine, Some(map)) = (self, details.as_object_mut()) {
            map.insert("via".into(), "command_line".into());
        }
        details
    }
}

/// Why an import or export stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("only admins move users in and out")]
    Forbidden,
    #[error("reading the input failed: {0}")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// How an import should run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Check every line and count, but write nothing.
    pub dry_run: bool,
}

/// A line that failed, with its number (from 1) and its problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub email: Option<String>,
    pub problems: Vec<(String, Invalid)>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The first [`MAX_REPORTED_ERRORS`] failed lines.
    pub errors: Vec<LineError>,
    /// Lines read so far, blank ones included.
    pub lines: u64,
    /// Bytes read so far.
    pub bytes: u64,
}

impl ImportReport {
    /// The failed lines in order, the first [`MAX_REPORTED_ERRORS`] of them.
    fn in_line_order(mut self) -> Self {
        self.errors.sort_by_key(|error| error.line);
        self.errors.truncate(MAX_REPORTED_ERRORS);
        self
    }

    fn fail(&mut self, line: u64, problems: LineProblems) {
        self.failed += 1;
        // A batch's failures are found after the lines read since (at most a batch more):
        // keeping that many more, then sorting, gives the first ones by line number.
        if self.errors.len() < MAX_REPORTED_ERRORS + BATCH {
            self.errors.push(LineError {
                line,
                email: problems.email,
                problems: problems.problems,
            });
        }
    }
}

/// Imports users from NDJSON `input`; `progress` sees the report after every batch. A
/// failure to read the input or to write ends the run: what was written stays, and a
/// re-run skips it.
pub async fn import<R: AsyncBufRead + Unpin>(
    deps: &Deps,
    operator: Operator<'_>,
    input: R,
    options: ImportOptions,
    meta: &RequestMeta,
    mut progress: impl FnMut(&ImportReport),
) -> Result<ImportReport, TransferError> {
    operator.authorize()?;
    let mut conn = deps.db.acquire().await?;
    if options.dry_run {
        transfer::start_dry_run(&mut conn).await?;
    }
    let mut run = Run {
        deps,
        operator,
        meta,
        dry_run: options.dry_run,
        report: ImportReport::default(),
        pending: Vec::with_capacity(BATCH),
        hash_kinds: HashMap::new(),
    };
    let outcome = run.read_all(&mut conn, input, &mut progress).await;
    if !options.dry_run {
        // Failed logins are padded to the cost of the hashes now stored.
        let samples: Vec<String> = run.hash_kinds.values().cloned().collect();
        deps.passwords.learn_costs(&samples).await;
    }
    if options.dry_run {
        // The connection goes back to the pool: its temporary table must not stay.
        transfer::end_dry_run(&mut conn).await?;
        return outcome.map(|()| run.report.in_line_order());
    }
    drop(conn);
    let report = &run.report;
    let details = operator.details(serde_json::json!({
        "created": report.created,
        "skipped": report.skipped,
        "failed": report.failed,
        "complete": outcome.is_ok(),
    }));
    audit::insert(
        &deps.db,
        &Event::success(Action::UsersImportFinished, operator.actor_id(), None, meta)
            .with_details(details),
    )
    .await?;
    outcome.map(|()| run.report.in_line_order())
}

/// A user read and checked, waiting for its batch.
struct Pending {
    line: u64,
    user: ImportedUser,
    sealed: crate::crypto::Sealed,
    blind_index: Vec<u8>,
}

struct Run<'a> {
    deps: &'a Deps,
    operator: Operator<'a>,
    meta: &'a RequestMeta,
    dry_run: bool,
    report: ImportReport,
    pending: Vec<Pending>,
    /// One hash of each kind read (format and cost), up to [`MAX_HASH_KINDS`].
    hash_kinds: HashMap<String, String>,
}

/// Kinds of hash whose cost an import learns; a file has a handful.
const MAX_HASH_KINDS: usize = 64;

impl Run<'_> {
    async fn read_all<R: AsyncBufRead + Unpin>(
        &mut self,
        conn: &mut sqlx::PgConnection,
        mut input: R,
        progress: &mut impl FnMut(&ImportReport),
    ) -> Result<(), TransferError> {
        let mut line = Vec::new();
        while let Some(read) = read_line(&mut input, &mut line)
            .await
            .map_err(TransferError::Read)?
        {
            self.report.lines += 1;
            self.report.bytes += read.bytes;
            let number = self.report.lines;
            if read.too_long {
                self.report.fail(
                    number,
                    LineProblems::whole_line(Invalid::new(
                        "too_long",
                        format!("must be at most {MAX_LINE_BYTES} bytes"),
                    )),
                );
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(&line) {
                Ok(user) => {
                    if let Some(hash) = &user.password_hash {
                        let kind = password_formats::kind(hash);
                        if self.hash_kinds.len() < MAX_HASH_KINDS
                            && !self.hash_kinds.contains_key(kind)
                        {
                            self.hash_kinds.insert(kind.to_owned(), hash.clone());
                        }
                    }
                    let (sealed, blind_index) = self
                        .deps
                        .seal_email(&user.email)
                        .map_err(|e| TransferError::Internal(e.into()))?;
                    self.pending.push(Pending {
                        line: number,
                        user,
                        sealed,
                        blind_index,
                    });
                }
                Err(problems) => self.report.fail(number, problems),
            }
            if self.pending.len() >= BATCH {
                self.write_batch(conn).await?;
                progress(&self.report);
            }
        }
        self.write_batch(conn).await?;
        progress(&self.report);
        Ok(())
    }

    /// Writes (or, in a dry run, tries and rolls back) the pending users.
    async fn write_batch(&mut self, conn: &mut sqlx::PgConnection) -> Result<(), TransferError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let indexes: Vec<Vec<u8>> = pending.iter().map(|p| p.blind_index.clone()).collect();
        let externals: Vec<String> = pending
            .iter()
            .filter_map(|p| p.user.external_id.clone())
            .collect();
        let (mut taken_emails, mut taken_externals) =
            transfer::taken(conn, &indexes, &externals).await?;
        if self.dry_run {
            let (emails, ids) = transfer::dry_run_seen(conn, &indexes, &externals).await?;
            taken_emails.extend(emails);
            taken_externals.extend(ids);
        }

        // In file order: a repeated address is skipped, a repeated external id fails.
        let mut batch = transfer::Batch::default();
        let mut chosen: Vec<&Pending> = Vec::with_capacity(pending.len());
        let mut batch_emails: HashSet<&[u8]> = HashSet::new();
        let mut batch_externals: HashSet<&str> = HashSet::new();
        for item in &pending {
            if taken_emails.contains(&item.blind_index) || !batch_emails.insert(&item.blind_index) {
                self.report.skipped += 1;
                continue;
            }
            let external = item.user.external_id.as_deref();
            if let Some(external) = external
                && (taken_externals.contains(external) || !batch_externals.insert(external))
            {
                batch_emails.remove(item.blind_index.as_slice());
                self.report.fail(
                    item.line,
                    LineProblems {
                        email: Some(item.user.email.as_str().to_owned()),
                        problems: vec![(
                            "external_id".to_owned(),
                            Invalid::new("taken", "belongs to another user already"),
                        )],
                    },
                );
                continue;
            }
            push(&mut batch, item);
            chosen.push(item);
        }
        if batch.is_empty() {
            return Ok(());
        }

        let mut tx = conn.begin().await?;
        let created: HashSet<Uuid> =
            transfer::insert_batch(&mut tx, &batch, self.operator.actor_id(), self.meta)
                .await?
                .into_iter()
                .collect();
        let mut invited = false;
        // `chosen` and the batch's ids are in the same order.
        for (item, &id) in chosen.iter().zip(&batch.ids) {
            if !item.user.send_invitation || !created.contains(&id) {
                continue;
            }
            // Invitation mail goes to an address not yet proven: no name in it.
            mail::send_token(
                &mut tx,
                &self.deps.cipher,
                self.deps.public_url(),
                TokenPurpose::Invitation,
                id,
                Recipient::unproven(item.user.email.as_str()),
                None,
            )
            .await?;
            invited = true;
        }
        if self.dry_run {
            tx.rollback().await?;
            let made: Vec<&Pending> = chosen
                .iter()
                .zip(&batch.ids)
                .filter(|(_, id)| created.contains(id))
                .map(|(item, _)| *item)
                .collect();
            let emails: Vec<Vec<u8>> = made.iter().map(|p| p.blind_index.clone()).collect();
            let ids: Vec<String> = made
                .iter()
                .filter_map(|p| p.user.external_id.clone())
                .collect();
            transfer::dry_run_remember(conn, &emails, &ids).await?;
        } else {
            tx.commit().await?;
            if invited {
                self.deps.outbox_wake.notify_one();
            }
        }
        let created_count = created.len() as u64;
        self.report.created += created_count;
        // Taken by someone else between the check and the insert.
        self.report.skipped += batch.len() as u64 - created_count;
        Ok(())
    }
}

fn push(batch: &mut transfer::Batch, item: &Pending) {
    let user = &item.user;
    batch.ids.push(Uuid::now_v7());
    batch.email_ciphertexts.push(item.sealed.bytes.clone());
    batch.email_key_ids.push(item.sealed.key_id.clone());
    batch.email_blind_indexes.push(item.blind_index.clone());
    batch.email_verified.push(user.email_verified);
    batch.password_hashes.push(user.password_hash.clone());
    batch.names.push(user.name.as_str().to_owned());
    batch.roles.push(user.role.as_str().to_owned());
    batch.statuses.push(user.status.as_str().to_owned());
    batch.preferences.push(user.preferences.clone());
    batch.created_at.push(user.created_at);
    batch.external_ids.push(user.external_id.clone());
    batch.event_ids.push(Uuid::now_v7());
}

/// A line as read: its length in bytes with the newline, and whether it was longer than
/// [`MAX_LINE_BYTES`] (its content is then dropped).
struct LineRead {
    bytes: u64,
    too_long: bool,
}

/// Reads one line into `line` (without `\n` or `\r\n`), never holding more than
/// [`MAX_LINE_BYTES`] of it; `None` at the end of the input.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<LineRead>> {
    line.clear();
    let mut read = LineRead {
        bytes: 0,
        too_long: false,
    };
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            break;
        }
        let (content, used, ended) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        if !read.too_long {
            if line.len() + content.len() > MAX_LINE_BYTES {
                read.too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(content);
            }
        }
        read.bytes += used as u64;
        input.consume(used);
        if ended {
            break;
        }
    }
    if read.bytes == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(read))
}

/// Bytes of NDJSON per chunk sent to the reader of an export.
const EXPORT_CHUNK: usize = 64 * 1024;

/// Starts an export of every user (deactivated ones too), oldest first, and gives its
/// NDJSON as chunks; the `users.exported` event is written before the first. Chunks wait
/// for the reader (a few in flight), so memory stays flat however many users there are.
pub async fn export(
    deps: &Deps,
    operator: Operator<'_>,
    include_password_hashes: bool,
    meta: &RequestMeta,
) -> Result<mpsc::Receiver<Result<Bytes, TransferError>>, TransferError> {
    operator.authorize()?;
    let details = operator.details(serde_json::json!({
        "include_password_hashes": include_password_hashes,
    }));
    audit::insert(
        &deps.db,
        &Event::success(Action::UsersExported, operator.actor_id(), None, meta)
            .with_details(details),
    )
    .await?;
    let (sender, receiver) = mpsc::channel(4);
    let (pool, cipher) = (deps.db.clone(), deps.cipher.clone());
    tokio::spawn(async move {
        let result = stream_users(&pool, &cipher, include_password_hashes, &sender).await;
        if let Err(error) = result {
            let _ = sender.send(Err(error)).await;
        }
    });
    Ok(receiver)
}

async fn stream_users(
    pool: &sqlx::PgPool,
    cipher: &crate::crypto::FieldCipher,
    with_hashes: bool,
    sender: &mpsc::Sender<Result<Bytes, TransferError>>,
) -> Result<(), TransferError> {
    let mut conn = pool.acquire().await?;
    let mut chunk = Vec::with_capacity(EXPORT_CHUNK + 1024);
    let mut failed = None;
    transfer::export(&mut conn, cipher, with_hashes, |user, hash| {
        let line = serde_json::to_writer(&mut chunk, &ExportedUser::new(&user, hash.as_deref()));
        if let Err(error) = line {
            failed = Some(TransferError::Internal(error.into()));
        }
        chunk.push(b'\n');
        let full = chunk.len() >= EXPORT_CHUNK;
        let ready = full.then(|| Bytes::from(std::mem::take(&mut chunk)));
        let stop = failed.is_some();
        let sender = sender.clone();
        async move {
            match ready {
                Some(bytes) => !stop && sender.send(Ok(bytes)).await.is_ok(),
                None => !stop,
            }
        }
    })
    .await?;
    if let Some(error) = failed {
        return Err(error);
    }
    if !chunk.is_empty() {
        let _ = sender.send(Ok(Bytes::from(chunk))).await;
    }
    Ok(())
}
