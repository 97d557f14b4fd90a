UPDATE sessions SET end_reason = 'revoked' WHERE end_reason IN ('mfa_enabled', 'mfa_reset');
ALTER TABLE sessions DROP CONSTRAINT sessions_end_reason_valid;
ALTER TABLE sessions ADD CONSTRAINT sessions_end_reason_valid CHECK (end_reason IN (
    'logout', 'logout_all', 'refresh_reused', 'revoked', 'password_changed',
    'password_reset', 'deactivated', 'email_changed', 'reauth_failed', 'email_reverted'));
ALTER TABLE sessions DROP CONSTRAINT sessions_amr_valid;
ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
