-- Security Event Tokens (RFC 8417, profiled for SCIM by RFC 9967): a tenant's webhook delivers
-- either Standard Webhooks or SETs (RFC 8935 push); the deployment's signing keys, shared by
-- every instance on the database and published as a JWKS; and the SETs a tenant's poll
-- receiver (RFC 8936) acknowledged ahead of the first one it has not, kept until its cursor
-- (in event_cursors) passes them.
ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'standard_webhooks';

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE set_acks (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
