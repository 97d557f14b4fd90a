-- The writes of one second step (issue 14), without the service: what PostgreSQL alone can
-- do of them on this machine. Run against a kept bench database:
--   scripts/bench --only mfa --keep-database
--   psql -d gatehouse_bench -c "CREATE TABLE ids AS SELECT row_number() OVER () AS n, id FROM users" \
--        -c "CREATE INDEX ids_n ON ids (n)" -c "ANALYZE ids"
--   pgbench -n -c 8 -j 2 -T 8 -M prepared -f bench/sql/second-step-writes.sql gatehouse_bench
-- (8 clients: the pool's share for writes). The spent code, the used challenge, the session,
-- its refresh token, last_login_at and the audit event, in one statement as the service
-- sends them; the challenge and step conditions are left out so that any user can repeat.
\set n random(10001, 70000)
WITH u AS (SELECT id AS user_id FROM ids WHERE n = :n),
c AS (UPDATE mfa_challenges SET failures = 0 WHERE user_id IN (SELECT user_id FROM u)
      RETURNING user_id),
t AS (UPDATE user_totp SET last_used_step = coalesce(last_used_step, 0) + 1
      WHERE user_id IN (SELECT user_id FROM c) RETURNING user_id),
s AS (INSERT INTO sessions (id, user_id, expires_at, amr)
      SELECT gen_random_uuid(), user_id, now() + interval '1 day', '{pwd,otp}' FROM t
      RETURNING id, expires_at),
r AS (INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
      SELECT sha256(gen_random_uuid()::text::bytea), id, expires_at FROM s),
l AS (UPDATE users SET last_login_at = now() WHERE id IN (SELECT user_id FROM t)),
e AS (INSERT INTO audit_events (id, action, outcome, actor_id, target_id, details)
      SELECT gen_random_uuid(), 'auth.login', 'success', user_id, user_id,
             '{"method": "password+totp"}' FROM t)
SELECT count(*) FROM t;
