-- Transactional outbox: a message is inserted in the transaction of the change that caused
-- it and delivered later by a worker (several instances claim rows with SKIP LOCKED).
-- Recipient and content hold addresses and tokens, so both are encrypted; the content is
-- erased (set to NULL) once the message is delivered.
CREATE TABLE email_outbox (
    id                   uuid PRIMARY KEY,
    template             text NOT NULL,
    key_id               text NOT NULL,
    recipient_ciphertext bytea NOT NULL,
    content_ciphertext   bytea,
    status               text NOT NULL DEFAULT 'pending',
    attempts             integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    sent_at              timestamptz,
    CONSTRAINT email_outbox_status_valid CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT email_outbox_sent_is_erased CHECK (status <> 'sent' OR content_ciphertext IS NULL),
    CONSTRAINT email_outbox_pending_has_content
        CHECK (status <> 'pending' OR content_ciphertext IS NOT NULL)
);

CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'pending';
