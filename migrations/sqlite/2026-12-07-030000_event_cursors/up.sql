-- Where each of a host app's event handlers (library mode) is in each tenant's events, with a
-- lease so one instance at a time runs a tenant's events through it, in order. updated_at is
-- written on every step, success or failure: while a handler keeps trying, the events it has
-- not handled are kept past the event retention.
CREATE TABLE event_cursors (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    consumer TEXT NOT NULL,
    handled_seq BIGINT NOT NULL,
    failures INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, consumer)
);
