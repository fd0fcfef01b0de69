-- Each credential carries its tenant's schema version, so authenticating a request reads the
-- version with the key in one primary-key read of credentials, never the tenant's row (which
-- every write updates). The tenant's row keeps the version of record; both move together.
ALTER TABLE credentials ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 0;
UPDATE credentials SET schema_version =
    (SELECT t.schema_version FROM tenants t WHERE t.id = credentials.tenant_id);
