-- Avatars, already re-encoded by the service (metadata stripped, at most 512x512).
-- Kept apart from users so that reading a user never drags the image along.
CREATE TABLE avatars (
    user_id      uuid PRIMARY KEY REFERENCES users (id),
    content_type text NOT NULL,
    data         bytea NOT NULL,
    etag         text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT avatars_content_type_valid
        CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp')),
    CONSTRAINT avatars_data_size CHECK (octet_length(data) BETWEEN 1 AND 2097152)
);

CREATE TRIGGER avatars_set_updated_at BEFORE UPDATE ON avatars
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
