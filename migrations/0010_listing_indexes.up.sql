-- Name search stays fast under registrations: with GIN's fast update, new names wait in a
-- pending list that every search reads in full until (auto)vacuum merges it; after a bulk
-- load of 100,000 users that list made a search read 500 pages instead of 10.
-- Registrations are bounded by the password hash, so updating the index in place costs
-- nothing that matters.
ALTER INDEX users_name_trgm_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('users_name_trgm_idx'::regclass);

-- "Most recent logins first" (never-logged-in last) is served by the index as it is written.
DROP INDEX users_last_login_at_idx;
CREATE INDEX users_last_login_at_idx ON users (last_login_at DESC NULLS LAST, id DESC);
