-- Accounts. The email address is never stored in clear: email_ciphertext is AES-256-GCM
-- (nonce || ciphertext || tag) under the key named by email_key_id, and email_blind_index is
-- HMAC-SHA256 of the normalised address, which serves lookups and the uniqueness rule.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email_ciphertext    bytea NOT NULL,
    email_key_id        text NOT NULL,
    email_blind_index   bytea NOT NULL,
    email_verified_at   timestamptz,
    -- NULL for an invited user who has not chosen a password yet.
    password_hash       text,
    name                text NOT NULL,
    role                text NOT NULL DEFAULT 'user',
    status              text NOT NULL DEFAULT 'pending_verification',
    preferences         jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Failed-login slowdown: consecutive failures and the time before which logins are refused.
    failed_login_count  integer NOT NULL DEFAULT 0,
    login_blocked_until timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    last_login_at       timestamptz,
    deactivated_at      timestamptz,
    CONSTRAINT users_email_blind_index_key UNIQUE (email_blind_index),
    CONSTRAINT users_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT users_role_valid CHECK (role IN ('admin', 'manager', 'user')),
    CONSTRAINT users_status_valid
        CHECK (status IN ('pending_verification', 'active', 'deactivated')),
    CONSTRAINT users_deactivated_at_matches_status
        CHECK ((status = 'deactivated') = (deactivated_at IS NOT NULL)),
    CONSTRAINT users_preferences_object CHECK (jsonb_typeof(preferences) = 'object'),
    CONSTRAINT users_failed_login_count_non_negative CHECK (failed_login_count >= 0)
);

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Listing: default order, sorts and filters of GET /api/v1/users.
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_last_login_at_idx ON users (last_login_at, id);
CREATE INDEX users_name_idx ON users (lower(name), id);
CREATE INDEX users_name_trgm_idx ON users USING gin (lower(name) gin_trgm_ops);
-- The "last active admin" rule counts these.
CREATE INDEX users_active_admins_idx ON users (id) WHERE role = 'admin' AND status = 'active';
