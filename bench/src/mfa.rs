//! The second step of a sign-in under load: `POST /auth/login/mfa` with a challenge and a
//! TOTP code. A code is spent once per user (replay), so every request needs its own user
//! with TOTP on and its own challenge: this module adds them to the seeded database, all
//! with one secret (each user's copy sealed like the service seals it), and writes the
//! challenges' tokens and the current code for the load generator.

use std::path::{Path, PathBuf};

use crate::seed::ExtraUsers;
use anyhow::Context as _;
use gatehouse::crypto;
use gatehouse::deps::Deps;
use gatehouse::mfa::{self, TotpSecret};

/// The files of the scenario: one challenge token a line, and the code to answer with.
pub struct Files {
    pub tokens: PathBuf,
    pub code: PathBuf,
}

/// Adds `count` users with TOTP on and one open challenge each; the code is written last,
/// so that it is the current one when the load starts (one step of skew either side gives
/// the run a minute).
pub async fn prepare(deps: &Deps, work: &Path, count: usize) -> anyhow::Result<Files> {
    let secret = TotpSecret::generate();
    let sealed = mfa::seal_secret(&deps.cipher, &secret)?;
    let mut tokens = Vec::with_capacity(count);
    for chunk_start in (0..count).step_by(5_000) {
        let chunk_end = (chunk_start + 5_000).min(count);
        let (mut users, mut hashes) = (ExtraUsers::new(), Vec::new());
        for i in chunk_start..chunk_end {
            users.add(deps, &format!("mfa{i}@bench.example"))?;
            let (token, hash) = crypto::new_token();
            tokens.push(token);
            hashes.push(hash);
        }
        let ids = &users.ids;
        let mut tx = deps.db.begin().await?;
        users.insert(&mut *tx, "Second Step").await?;
        sqlx::query(
            "INSERT INTO user_totp (user_id, secret_ciphertext, secret_key_id, confirmed_at)
             SELECT id, $2, $3, now() FROM UNNEST($1::uuid[]) AS id",
        )
        .bind(ids)
        .bind(&sealed.bytes)
        .bind(&sealed.key_id)
        .execute(&mut *tx)
        .await
        .context("insert TOTP secrets")?;
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, expires_at)
             SELECT hash, id, now() + interval '5 minutes'
             FROM UNNEST($1::bytea[], $2::uuid[]) AS t(hash, id)",
        )
        .bind(&hashes)
        .bind(ids)
        .execute(&mut *tx)
        .await
        .context("insert challenges")?;
        tx.commit().await?;
    }
    sqlx::query("ANALYZE users, user_totp, mfa_challenges")
        .execute(&deps.db)
        .await?;
    let files = Files {
        tokens: work.join("mfa-tokens.txt"),
        code: work.join("mfa-code.txt"),
    };
    tokio::fs::write(&files.tokens, tokens.join("\n") + "\n").await?;
    let code = mfa::code_at(&secret, mfa::now());
    tokio::fs::write(&files.code, format!("{code}\n")).await?;
    Ok(files)
}
