-- The failed-login slowdown is kept in the rate-limit store (in process or Redis), keyed by
-- address and client IP, so that failures from one IP cannot lock the owner out from
-- everywhere; the per-account columns planned for it in 0002 are not needed.
ALTER TABLE users
    DROP CONSTRAINT users_failed_login_count_non_negative,
    DROP COLUMN failed_login_count,
    DROP COLUMN login_blocked_until;
