-- Passkeys (WebAuthn): each user's credentials, and the ceremonies in progress. A
-- credential's id and public key are public data, kept as they are; nothing secret of the
-- authenticator ever reaches the service.
CREATE TABLE passkeys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator's id for the credential: what a sign-in names.
    credential_id bytea NOT NULL UNIQUE,
    -- The credential as webauthn-rs serialises it (public key, counter, backup flags).
    credential    jsonb NOT NULL,
    -- The signature counter of the newest sign-in (0: the authenticator keeps none); a
    -- sign-in is recorded only if its counter is above it, so two racing cannot both count.
    sign_count    bigint NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
    name          text NOT NULL CONSTRAINT passkeys_name_length
                  CHECK (char_length(name) BETWEEN 1 AND 100),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);

-- A ceremony's server-side state between its options and the browser's answer: single use
-- (taken by a DELETE), five minutes, a registration bound to its user.
CREATE TABLE webauthn_challenges (
    id         uuid PRIMARY KEY,
    ceremony   text NOT NULL CONSTRAINT webauthn_challenges_ceremony_valid
               CHECK (ceremony IN ('registration', 'sign_in')),
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    state      jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT webauthn_challenges_registration_has_user
        CHECK ((ceremony = 'registration') = (user_id IS NOT NULL))
);
CREATE INDEX webauthn_challenges_expires_at_idx ON webauthn_challenges (expires_at);
