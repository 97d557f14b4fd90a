ALTER TABLE users
    ADD COLUMN failed_login_count integer NOT NULL DEFAULT 0,
    ADD COLUMN login_blocked_until timestamptz,
    ADD CONSTRAINT users_failed_login_count_non_negative CHECK (failed_login_count >= 0);
