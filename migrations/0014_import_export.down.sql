DROP TRIGGER users_count_insert ON users;
DROP FUNCTION user_counts_track_inserts();
CREATE TRIGGER users_count_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION user_counts_track();

DROP INDEX users_external_id_key;
ALTER TABLE users DROP CONSTRAINT users_external_id_length;
ALTER TABLE users DROP COLUMN external_id;
