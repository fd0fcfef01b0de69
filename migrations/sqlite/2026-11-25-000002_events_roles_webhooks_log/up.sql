-- The app side: events to the host app (outbox), group-to-role mapping, webhooks and their
-- delivery attempts, the provisioning log, and credential lifetimes.

-- The last event sequence number issued per tenant; bumping it also orders a tenant's writers.
ALTER TABLE tenants ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
-- The role of users whose groups map to none (NULL: no role).
ALTER TABLE tenants ADD COLUMN default_role TEXT;

-- A rotated credential may keep working until expires_at (a grace period).
ALTER TABLE credentials ADD COLUMN expires_at BIGINT;
ALTER TABLE credentials ADD COLUMN last_used_at BIGINT;

-- The transactional outbox: written in the same transaction as the change it describes.
CREATE TABLE events (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE UNIQUE INDEX events_id ON events (id);

-- An IdP group (by id or displayName) mapped to a role of the host app.
CREATE TABLE role_mappings (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    group_ref TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_ref, role)
);

-- One webhook endpoint per tenant, with its delivery position and lease.
CREATE TABLE webhooks (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    delivered_seq BIGINT NOT NULL,
    failures INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhook_attempts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    event_seq BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_attempts_recent ON webhook_attempts (tenant_id, attempted_at);

-- Every SCIM request per tenant, for the admin whose users did not sync.
CREATE TABLE provisioning_log (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    at BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    latency_ms BIGINT NOT NULL,
    scim_type TEXT,
    detail TEXT,
    user_agent TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX provisioning_log_recent ON provisioning_log (tenant_id, at);
CREATE INDEX provisioning_log_age ON provisioning_log (at);
