//! Seeding a fresh database: verified users, sessions with refresh tokens, and the access
//! tokens the load generator presents. Uses the service's own ciphers, blind index, token
//! keys and password hasher (with the same development keys the benchmarked server runs
//! with), and batched SQL for speed.

use anyhow::Context as _;
use chrono::{Duration as Days, Utc};
use gatehouse::crypto::{self, Purpose};
use gatehouse::deps::Deps;
use gatehouse::model::Role;
use uuid::Uuid;

/// The password of every seeded user.
pub const PASSWORD: &str = "a load test passphrase";

/// Syllables of the generated names: 40 first-name pairs and 64,000 surname triples give
/// names about as varied as a real customer base, so a search for part of a surname finds
/// a handful of people rather than a twentieth of everyone.
const SYLLABLES: [&str; 40] = [
    "ka", "lo", "mi", "ren", "tha", "vi", "dor", "bel", "sa", "ni", "ro", "ta", "el", "an", "mar",
    "lin", "qua", "zu", "ber", "gen", "ho", "ix", "jo", "kle", "mun", "nor", "pe", "ras", "sti",
    "tor", "ul", "ve", "wen", "ya", "fel", "gor", "hal", "id", "ost", "dra",
];

fn mix(mut x: u64) -> u64 {
    // splitmix64: a fixed, well-spread sequence, so every run seeds the same names.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn syllable(seed: u64, n: u32) -> &'static str {
    let index = (mix(seed.wrapping_add(u64::from(n))) % 40) as usize;
    SYLLABLES[index]
}

fn capitalised(parts: &[&str]) -> String {
    let word = parts.concat();
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The generated first name and surname of seeded user `i`.
fn name_of(i: usize) -> (String, String) {
    let seed = (i as u64).wrapping_mul(8);
    let first = capitalised(&[syllable(seed, 0), syllable(seed, 1)]);
    let last = capitalised(&[syllable(seed, 2), syllable(seed, 3), syllable(seed, 4)]);
    (first, last)
}

/// What the scenarios need from the seeded database.
pub struct Seeded {
    pub emails: Vec<String>,
    pub access_tokens: Vec<String>,
    pub refresh_tokens: Vec<String>,
    pub admin_token: String,
    /// What an administrator would type to find one of the seeded people: part of a
    /// surname, or all of it.
    pub search_terms: Vec<String>,
}

/// Seeds `users` verified users (one of them the admin), `sessions` sessions with an
/// access token each, and `refresh` more sessions whose refresh tokens are used once each.
pub async fn seed(
    deps: &Deps,
    users: usize,
    sessions: usize,
    refresh: usize,
) -> anyhow::Result<Seeded> {
    let hash = deps.passwords.hash(PASSWORD).await?;
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
            let sealed = deps.cipher.encrypt(Purpose::Email, email.as_bytes())?;
            batch_ids.push(Uuid::now_v7());
            ciphertexts.push(sealed.bytes);
            key_ids.push(sealed.key_id);
            indexes.push(deps.blind_index.compute(&email));
            let (first, last) = name_of(i);
            names.push(format!("{first} {last}"));
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
        .execute(&deps.db)
        .await
        .context("insert users")?;
        ids.extend(batch_ids);
    }
    // As a live database would be after autovacuum: statistics current, dead rows gone.
    sqlx::query("VACUUM ANALYZE users, user_counts")
        .execute(&deps.db)
        .await?;

    let mut access_tokens = Vec::with_capacity(sessions);
    let mut refresh_tokens = Vec::with_capacity(refresh);
    let mut admin_token = String::new();
    let total = sessions + refresh;
    // Sessions are inserted with the column's default `amr`, a password sign-in.
    let amr = ["pwd".to_owned()];
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
                let access = deps.tokens.issue(user, session, role, &amr)?;
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
        .execute(&deps.db)
        .await
        .context("insert sessions")?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
             SELECT h, s, now() + interval '30 days' FROM UNNEST($1::bytea[], $2::uuid[]) AS t(h, s)",
        )
        .bind(&hashes)
        .bind(&session_ids)
        .execute(&deps.db)
        .await
        .context("insert refresh tokens")?;
    }
    sqlx::query("VACUUM ANALYZE sessions")
        .execute(&deps.db)
        .await?;
    sqlx::query("VACUUM ANALYZE refresh_tokens")
        .execute(&deps.db)
        .await?;
    let search_terms = (0..1_000)
        .map(|n| {
            let (_, last) = name_of((mix(n) as usize) % users);
            match n % 3 {
                0 => last.to_lowercase(),
                _ => last.chars().skip(1).take(5).collect(),
            }
        })
        .collect();
    Ok(Seeded {
        emails,
        access_tokens,
        refresh_tokens,
        admin_token,
        search_terms,
    })
}

/// Verified, active users of role `user` named `name`, with sealed addresses: the extra
/// people of the scenarios that need their own (the second step, passkeys).
pub struct ExtraUsers {
    pub ids: Vec<Uuid>,
    ciphertexts: Vec<Vec<u8>>,
    key_ids: Vec<String>,
    indexes: Vec<Vec<u8>>,
}

impl ExtraUsers {
    pub fn new() -> Self {
        Self {
            ids: Vec::new(),
            ciphertexts: Vec::new(),
            key_ids: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// Adds one with this address; gives their id.
    pub fn add(&mut self, deps: &Deps, email: &str) -> anyhow::Result<Uuid> {
        let sealed = deps.cipher.encrypt(Purpose::Email, email.as_bytes())?;
        let id = Uuid::now_v7();
        self.ids.push(id);
        self.ciphertexts.push(sealed.bytes);
        self.key_ids.push(sealed.key_id);
        self.indexes.push(deps.blind_index.compute(email));
        Ok(id)
    }

    /// Inserts them, named `name`.
    pub async fn insert(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        name: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO users (id, email_ciphertext, email_key_id, email_blind_index,
                                email_verified_at, name, role, status)
             SELECT id, ct, kid, idx, now(), $5, 'user', 'active'
             FROM UNNEST($1::uuid[], $2::bytea[], $3::text[], $4::bytea[]) AS t(id, ct, kid, idx)",
        )
        .bind(&self.ids)
        .bind(&self.ciphertexts)
        .bind(&self.key_ids)
        .bind(&self.indexes)
        .bind(name)
        .execute(executor)
        .await
        .context("insert users")?;
        Ok(())
    }
}
