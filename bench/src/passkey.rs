//! Passkey sign-in under load: `POST /auth/passkey/login` with a challenge and a browser's
//! signed answer. A challenge is spent once, and the load generator cannot sign, so this
//! module registers passkeys for some users (through the service's own relying party, as
//! a registration would store them) and writes, for every request of the run, a sign-in
//! challenge with its answer signed by the software authenticator of the tests. The
//! authenticators keep no signature counter, as synced passkeys do, so that the answers
//! may arrive in any order.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gatehouse::deps::Deps;
use serde_json::json;
use uuid::Uuid;

use crate::seed::ExtraUsers;
use crate::soft_passkey::SoftPasskey;

/// The origin of the default `PUBLIC_URL`, which the service's relying party accepts.
const ORIGIN: &str = "http://localhost:8080";

/// Users with a passkey: the answers go round them, so that no row is everyone's.
const USERS: usize = 2_000;

/// Adds users with a passkey, then `count` sign-in challenges with their signed answers;
/// returns the file of request bodies, one a line.
pub async fn prepare(deps: &Deps, work: &Path, count: usize) -> anyhow::Result<PathBuf> {
    let rp = deps
        .passkeys
        .as_ref()
        .context("passkeys are off: the relying party needs a domain")?;
    let users = USERS.min(count.max(1));
    let mut users_made = ExtraUsers::new();
    let (mut passkey_ids, mut credential_ids, mut credentials) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut authenticators = Vec::with_capacity(users);
    for i in 0..users {
        let email = format!("passkey{i}@bench.example");
        let user_id = users_made.add(deps, &email)?;
        let ceremony = rp.start_registration(user_id, &email, "Passkey User", Vec::new())?;
        let (authenticator, answer) = SoftPasskey::register(&ceremony.public_key, ORIGIN);
        let made = rp
            .finish_registration(&answer, ceremony.state)?
            .map_err(|refusal| anyhow::anyhow!("registration refused: {refusal}"))?;
        passkey_ids.push(Uuid::now_v7());
        credential_ids.push(made.credential_id);
        credentials.push(made.credential);
        authenticators.push(authenticator.with_zero_counter());
    }
    let mut tx = deps.db.begin().await?;
    users_made.insert(&mut *tx, "Passkey User").await?;
    sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, credential, name)
         SELECT id, user_id, cid, cred, 'Bench key'
         FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[], $4::jsonb[])
              AS t(id, user_id, cid, cred)",
    )
    .bind(&passkey_ids)
    .bind(&users_made.ids)
    .bind(&credential_ids)
    .bind(&credentials)
    .execute(&mut *tx)
    .await
    .context("insert passkeys")?;
    tx.commit().await?;

    let mut bodies = String::new();
    for chunk_start in (0..count).step_by(5_000) {
        let chunk_end = (chunk_start + 5_000).min(count);
        let (mut challenge_ids, mut states) = (Vec::new(), Vec::new());
        for i in chunk_start..chunk_end {
            let ceremony = rp.start_sign_in()?;
            let challenge_id = Uuid::new_v4();
            let answer = authenticators[i % users].sign_in(&ceremony.public_key, ORIGIN);
            let body = json!({"challenge_id": challenge_id, "credential": answer});
            bodies.push_str(&body.to_string());
            bodies.push('\n');
            challenge_ids.push(challenge_id);
            states.push(ceremony.state);
        }
        sqlx::query(
            "INSERT INTO webauthn_challenges (id, ceremony, state, expires_at)
             SELECT id, 'sign_in', state, now() + interval '5 minutes'
             FROM UNNEST($1::uuid[], $2::jsonb[]) AS t(id, state)",
        )
        .bind(&challenge_ids)
        .bind(&states)
        .execute(&deps.db)
        .await
        .context("insert sign-in challenges")?;
    }
    sqlx::query("ANALYZE users, passkeys, webauthn_challenges")
        .execute(&deps.db)
        .await?;
    let path = work.join("passkey-bodies.txt");
    tokio::fs::write(&path, bodies).await?;
    Ok(path)
}
