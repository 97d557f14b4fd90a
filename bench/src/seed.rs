//! Seeding a fresh database: verified users, sessions with refresh tokens, and the access
//! tokens the load generator presents. Uses the service's own ciphers, blind index, token
//! keys and password hasher (with the same development keys the benchmarked server runs
//! with), and batched SQL for speed.

use anyhow::Context as _;
use chrono::{Duration as Days, Utc};
use gatehouse::crypto::{self, Purpose};
use gatehouse::services::Services;
use gatehouse::users::Role;
use uuid::Uuid;

/// The password of every seeded user.
pub const PASSWORD: &str = "a load test passphrase";

const FIRST: [&str; 20] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Dennis",
    "Radia",
    "Frances",
    "John",
    "Katherine",
    "Leslie",
    "Niklaus",
    "Tony",
    "Hedy",
    "Claude",
    "Sophie",
    "Linus",
];
const LAST: [&str; 20] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson",
    "Ritchie", "Perlman", "Allen", "McCarthy", "Johnson", "Lamport", "Wirth", "Hoare", "Lamarr",
    "Shannon", "Wilson", "Torvalds",
];

/// What the scenarios need from the seeded database.
pub struct Seeded {
    pub emails: Vec<String>,
    pub access_tokens: Vec<String>,
    pub refresh_tokens: Vec<String>,
    pub admin_token: String,
}

/// Seeds `users` verified users (one of them the admin), `sessions` sessions with an
/// access token each, and `refresh` more sessions whose refresh tokens are used once each.
pub async fn seed(
    services: &Services,
    users: usize,
    sessions: usize,
    refresh: usize,
) -> anyhow::Result<Seeded> {
    let hash = services.passwords.hash(PASSWORD).await?;
    let now = Utc::now();
    let mut ids = Vec::with_capacity(users);
    let mut emails = Vec::with_capacity(users);
    for chunk_start in (0..users).step_by(5_000) {
        let chunk_end = (chunk_start + 5_000).min(users);
        let mut batch_ids = Vec::new();
        let (mut ciphertexts, mut key_ids, mut indexes, mut names, mut roles, mut created) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for i in chunk_start..chunk_end {
            let email = format!("user{i}@bench.example");
            let sealed = services.cipher.encrypt(Purpose::Email, email.as_bytes())?;
            batch_ids.push(Uuid::now_v7());
            ciphertexts.push(sealed.bytes);
            key_ids.push(sealed.key_id);
            indexes.push(services.blind_index.compute(&email));
            names.push(format!("{} {} {i}", FIRST[i % 20], LAST[(i / 20) % 20]));
            let role = match i {
                0 => Role::Admin,
                i if i % 50 == 0 => Role::Manager,
                _ => Role::User,
            };
            roles.push(role.as_str().to_owned());
            created.push(now - Days::minutes(i64::try_from(users - i).unwrap_or(0)));
            emails.push(email);
        }
        sqlx::query(
            "INSERT INTO users (id, email_ciphertext, email_key_id, email_blind_index, email_verified_at,
                                password_hash, name, role, status, created_at, updated_at)
             SELECT id, ct, kid, idx, now(), $5, name, role, 'active', created, created
             FROM UNNEST($1::uuid[], $2::bytea[], $3::text[], $4::bytea[], $6::text[], $7::text[], $8::timestamptz[])
                  AS t(id, ct, kid, idx, name, role, created)",
        )
        .bind(&batch_ids)
        .bind(&ciphertexts)
        .bind(&key_ids)
        .bind(&indexes)
        .bind(&hash)
        .bind(&names)
        .bind(&roles)
        .bind(&created)
        .execute(&services.db)
        .await
        .context("insert users")?;
        ids.extend(batch_ids);
    }
    sqlx::query("ANALYZE users").execute(&services.db).await?;

    let mut access_tokens = Vec::with_capacity(sessions);
    let mut refresh_tokens = Vec::with_capacity(refresh);
    let mut admin_token = String::new();
    let total = sessions + refresh;
    for chunk_start in (0..total).step_by(5_000) {
        let chunk_end = (chunk_start + 5_000).min(total);
        let (mut session_ids, mut user_ids, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
        for n in chunk_start..chunk_end {
            let user = ids[n % ids.len()];
            let session = Uuid::now_v7();
            let (token, token_hash) = crypto::new_token();
            session_ids.push(session);
            user_ids.push(user);
            hashes.push(token_hash);
            if n < sessions {
                let role = if n % ids.len() == 0 {
                    Role::Admin
                } else if (n % ids.len()) % 50 == 0 {
                    Role::Manager
                } else {
                    Role::User
                };
                let access = services.tokens.issue(user, session, role)?;
                if n % ids.len() == 0 && admin_token.is_empty() {
                    admin_token = access.clone();
                }
                access_tokens.push(access);
            } else {
                refresh_tokens.push(token);
            }
        }
        sqlx::query(
            "INSERT INTO sessions (id, user_id, expires_at, ip, user_agent)
             SELECT id, uid, now() + interval '30 days', '127.0.0.1', 'gatehouse-bench'
             FROM UNNEST($1::uuid[], $2::uuid[]) AS t(id, uid)",
        )
        .bind(&session_ids)
        .bind(&user_ids)
        .execute(&services.db)
        .await
        .context("insert sessions")?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
             SELECT h, s, now() + interval '30 days' FROM UNNEST($1::bytea[], $2::uuid[]) AS t(h, s)",
        )
        .bind(&hashes)
        .bind(&session_ids)
        .execute(&services.db)
        .await
        .context("insert refresh tokens")?;
    }
    sqlx::query("ANALYZE sessions")
        .execute(&services.db)
        .await?;
    sqlx::query("ANALYZE refresh_tokens")
        .execute(&services.db)
        .await?;
    Ok(Seeded {
        emails,
        access_tokens,
        refresh_tokens,
        admin_token,
    })
}
