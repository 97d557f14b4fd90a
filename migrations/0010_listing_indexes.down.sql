DROP INDEX users_last_login_at_idx;
CREATE INDEX users_last_login_at_idx ON users (last_login_at, id);

ALTER INDEX users_name_trgm_idx RESET (fastupdate);
