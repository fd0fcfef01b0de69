-- The admin portal: single-use setup links the host app hands its customer, and the browser
-- sessions they are exchanged for. Only SHA-256 digests of their (256-bit random) secrets are
-- stored.
CREATE TABLE portal_links (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX portal_links_tenant ON portal_links (tenant_id, created_at);

CREATE TABLE portal_sessions (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    link_id TEXT NOT NULL REFERENCES portal_links (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_link ON portal_sessions (link_id);
