-- Account safety (contract v2).
-- Re-authentication: consecutive failed `current_password` checks within a session; the
-- fifth ends it (a safety rule, counted in the database so that every instance sees it).
ALTER TABLE sessions ADD COLUMN reauth_failures integer NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD CONSTRAINT sessions_reauth_failures_non_negative
    CHECK (reauth_failures >= 0);
ALTER TABLE sessions DROP CONSTRAINT sessions_end_reason_valid;
ALTER TABLE sessions ADD CONSTRAINT sessions_end_reason_valid CHECK (end_reason IN (
    'logout', 'logout_all', 'refresh_reused', 'revoked', 'password_changed',
    'password_reset', 'deactivated', 'email_changed', 'reauth_failed', 'email_reverted'));

-- The revert link of an email change, mailed to the old address: it carries that old
-- address (sealed, with its blind index) as an email change carries the new one.
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_valid;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_valid CHECK (purpose IN (
    'email_verification', 'email_change', 'password_reset', 'invitation', 'email_revert'));
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_new_email_only_for_change;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_new_email_only_for_change CHECK (
    (purpose IN ('email_change', 'email_revert')) = (new_email_ciphertext IS NOT NULL)
    AND (new_email_ciphertext IS NULL) = (new_email_key_id IS NULL)
    AND (new_email_ciphertext IS NULL) = (new_email_blind_index IS NULL));
