-- Extension schemas a tenant registered (RFC 7643 §7 documents, as the admin sent them), and
-- the version of the tenant's whole set, which each request reads with its credential so every
-- instance sees a change at once. unknown_extensions: 'refuse' or 'keep' (store as sent).
ALTER TABLE tenants ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN unknown_extensions TEXT NOT NULL DEFAULT 'refuse';

CREATE TABLE tenant_schemas (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    urn TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, urn)
);

-- The values of registered attributes with uniqueness "server", by comparison key: the primary
-- key refuses a second resource with the same value. Rows go with their resource.
CREATE TABLE unique_values (
    tenant_id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value_key TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, resource_type, attribute, value_key),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX unique_values_resource ON unique_values (tenant_id, resource_id);
