-- Tokens mailed to a person: email verification, email change, password reset, invitation.
-- Only a SHA-256 of the token is kept. An email change carries the new address, encrypted
-- like users.email and with its blind index, until the token is used.
CREATE TABLE one_time_tokens (
    id                      uuid PRIMARY KEY,
    token_hash              bytea NOT NULL,
    purpose                 text NOT NULL,
    user_id                 uuid NOT NULL REFERENCES users (id),
    new_email_ciphertext    bytea,
    new_email_key_id        text,
    new_email_blind_index   bytea,
    created_at              timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz NOT NULL,
    used_at                 timestamptz,
    CONSTRAINT one_time_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT one_time_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT one_time_tokens_purpose_valid CHECK (purpose IN (
        'email_verification', 'email_change', 'password_reset', 'invitation')),
    CONSTRAINT one_time_tokens_new_email_only_for_change CHECK (
        (purpose = 'email_change') = (new_email_ciphertext IS NOT NULL)
        AND (new_email_ciphertext IS NULL) = (new_email_key_id IS NULL)
        AND (new_email_ciphertext IS NULL) = (new_email_blind_index IS NULL))
);

CREATE INDEX one_time_tokens_user_open_idx ON one_time_tokens (user_id, purpose)
    WHERE used_at IS NULL;
CREATE INDEX one_time_tokens_expires_at_idx ON one_time_tokens (expires_at);
