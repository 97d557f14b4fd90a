-- Exact user counts per (role, status), kept by triggers, so that the listing's `total`
-- for the unfiltered and role/status-filtered pages (an admin console's first screen) is
-- a read of at most nine rows instead of a count over every user.
CREATE TABLE user_counts (
    role   text   NOT NULL,
    status text   NOT NULL,
    n      bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (role, status)
);

INSERT INTO user_counts (role, status, n)
SELECT role, status, count(*) FROM users GROUP BY role, status;

-- A decrement is a plain UPDATE: an INSERT of -1 would fail the CHECK before ON CONFLICT.
CREATE FUNCTION user_counts_add(p_role text, p_status text, p_delta bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_delta < 0 THEN
        UPDATE user_counts SET n = n + p_delta WHERE role = p_role AND status = p_status;
    ELSE
        INSERT INTO user_counts AS c (role, status, n) VALUES (p_role, p_status, p_delta)
        ON CONFLICT (role, status) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
END;
$$;

CREATE FUNCTION user_counts_track() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM user_counts_add(NEW.role, NEW.status, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM user_counts_add(OLD.role, OLD.status, -1);
    -- A move locks its two counter rows in key order, so two opposite moves at once
    -- (user -> manager and manager -> user) cannot deadlock.
    ELSIF (OLD.role, OLD.status) < (NEW.role, NEW.status) THEN
        PERFORM user_counts_add(OLD.role, OLD.status, -1);
        PERFORM user_counts_add(NEW.role, NEW.status, 1);
    ELSE
        PERFORM user_counts_add(NEW.role, NEW.status, 1);
        PERFORM user_counts_add(OLD.role, OLD.status, -1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_count_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION user_counts_track();
CREATE TRIGGER users_count_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION user_counts_track();
CREATE TRIGGER users_count_move AFTER UPDATE OF role, status ON users
    FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION user_counts_track();
