-- Two-step sign-in (contract v2): TOTP, recovery codes, the challenge between the password
-- and the second step, and how each session was signed in (its access tokens' `amr`).

-- One TOTP secret per user, sealed by the field cipher like email addresses (AES-256-GCM
-- with the key id beside it, so key rotation applies). `confirmed_at` is null while the
-- enrolment waits for its first code; a new enrolment replaces an unconfirmed one.
-- `last_used_step` is the 30-second step of the newest code accepted: that code and every
-- earlier one are refused from then on (replay), decided by one conditional UPDATE.
CREATE TABLE user_totp (
    user_id           uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_ciphertext bytea NOT NULL,
    secret_key_id     text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    confirmed_at      timestamptz,
    last_used_step    bigint
);

-- Recovery codes, only as keyed hashes (HMAC-SHA256 with the user id: the codes carry 50
-- random bits, so a slow hash adds nothing). A used code keeps its row with `used_at`.
CREATE TABLE recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash),
    CONSTRAINT recovery_codes_hash_length CHECK (octet_length(code_hash) = 32)
);

-- The login step between a right password and the second factor: an opaque token (its
-- SHA-256 only), single use, 5 minutes, dead after 5 wrong codes. A user's expired
-- challenges are deleted when the next one is made (unknown and expired look alike).
CREATE TABLE mfa_challenges (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    failures   integer NOT NULL DEFAULT 0,
    used_at    timestamptz,
    CONSTRAINT mfa_challenges_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT mfa_challenges_failures_non_negative CHECK (failures >= 0)
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);

-- RFC 8176 methods of the sign-in that opened the session; refreshed tokens keep them.
ALTER TABLE sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
ALTER TABLE sessions ADD CONSTRAINT sessions_amr_valid
    CHECK (amr <@ ARRAY['pwd', 'otp', 'hwk']::text[] AND cardinality(amr) > 0);

-- Sessions ended by turning the second step on (the others of the user) or by an admin's
-- reset of it.
ALTER TABLE sessions DROP CONSTRAINT sessions_end_reason_valid;
ALTER TABLE sessions ADD CONSTRAINT sessions_end_reason_valid CHECK (end_reason IN (
    'logout', 'logout_all', 'refresh_reused', 'revoked', 'password_changed',
    'password_reset', 'deactivated', 'email_changed', 'reauth_failed', 'email_reverted',
    'mfa_enabled', 'mfa_reset'));
