-- Users moved in from another system keep the identifier that system gave them, so that
-- the two can be matched afterwards (unique; most users have none, so the index holds only
-- the users that do and costs the others nothing on insert or update).
ALTER TABLE users ADD COLUMN external_id text;
ALTER TABLE users ADD CONSTRAINT users_external_id_length
    CHECK (char_length(external_id) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX users_external_id_key ON users (external_id) WHERE external_id IS NOT NULL;

-- An import inserts thousands of users in one statement: count them once per statement,
-- per (role, status), instead of once per row. (Per row, a batch updated the same counter
-- row a thousand times; now it is one update per role and status in the batch.)
DROP TRIGGER users_count_insert ON users;

CREATE FUNCTION user_counts_track_inserts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Locked in key order, like a move, so that two batches cannot deadlock.
    INSERT INTO user_counts AS c (role, status, n)
    SELECT role, status, count(*) FROM inserted GROUP BY role, status ORDER BY role, status
    ON CONFLICT (role, status) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_track_inserts();
