DELETE FROM one_time_tokens WHERE purpose = 'email_revert';
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_new_email_only_for_change;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_new_email_only_for_change CHECK (
    (purpose = 'email_change') = (new_email_ciphertext IS NOT NULL)
    AND (new_email_ciphertext IS NULL) = (new_email_key_id IS NULL)
    AND (new_email_ciphertext IS NULL) = (new_email_blind_index IS NULL));
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_valid;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_valid CHECK (purpose IN (
    'email_verification', 'email_change', 'password_reset', 'invitation'));

UPDATE sessions SET end_reason = 'revoked' WHERE end_reason IN ('reauth_failed', 'email_reverted');
ALTER TABLE sessions DROP CONSTRAINT sessions_end_reason_valid;
ALTER TABLE sessions ADD CONSTRAINT sessions_end_reason_valid CHECK (end_reason IN (
    'logout', 'logout_all', 'refresh_reused', 'revoked', 'password_changed',
    'password_reset', 'deactivated', 'email_changed'));
ALTER TABLE sessions DROP CONSTRAINT sessions_reauth_failures_non_negative;
ALTER TABLE sessions DROP COLUMN reauth_failures;
