DROP TRIGGER users_count_move ON users;
DROP TRIGGER users_count_delete ON users;
DROP TRIGGER users_count_insert ON users;
DROP FUNCTION user_counts_track();
DROP FUNCTION user_counts_add(text, text, bigint);
DROP TABLE user_counts;
