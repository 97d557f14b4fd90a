-- The audit trail. Append-only, enforced by the database itself: UPDATE, DELETE and
-- TRUNCATE raise an error whoever asks. No foreign keys, so that the record of what happened
-- does not depend on the rows it talks about.
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL,
    outcome     text NOT NULL,
    actor_id    uuid,
    target_id   uuid,
    ip          inet,
    user_agent  text,
    request_id  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT audit_events_outcome_valid CHECK (outcome IN ('success', 'failure')),
    CONSTRAINT audit_events_details_object CHECK (jsonb_typeof(details) = 'object')
);

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- Listing newest first, overall and per actor, target and action.
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, occurred_at, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, occurred_at, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, occurred_at, id);
