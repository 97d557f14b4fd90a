-- A session is one sign-in on one device. Access tokens carry its id (sid) and live only as
-- long as it does; refresh tokens rotate within it.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    end_reason   text,
    ip           inet,
    user_agent   text,
    CONSTRAINT sessions_end_reason_valid CHECK (end_reason IN (
        'logout', 'logout_all', 'refresh_reused', 'revoked', 'password_changed',
        'password_reset', 'deactivated', 'email_changed')),
    CONSTRAINT sessions_ended_has_reason CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);

CREATE INDEX sessions_user_open_idx ON sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Only a SHA-256 of each refresh token is kept. A rotated token keeps its row, with
-- rotated_at set, so that presenting it again is recognised as reuse (or, within the grace
-- window, as a concurrent refresh from another tab).
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    CONSTRAINT refresh_tokens_hash_length CHECK (octet_length(token_hash) = 32)
);

CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
