-- A tenant's mode: `live`, `dry_run` (SCIM requests go to a shadow copy of its directory, a
-- tenant row of its own whose shadow_of names it) or `paused` (SCIM requests are answered 503).
-- Each credential carries the mode, as it carries the schema version, so authentication reads
-- it with the key and never the tenant's row. mode_since is when the mode was set.
ALTER TABLE tenants ADD COLUMN mode TEXT NOT NULL DEFAULT 'live';
ALTER TABLE tenants ADD COLUMN mode_since BIGINT;
ALTER TABLE tenants ADD COLUMN shadow_of TEXT REFERENCES tenants (id) ON DELETE CASCADE;
ALTER TABLE credentials ADD COLUMN mode TEXT NOT NULL DEFAULT 'live';
