-- A tenant's default role and attribute mapping are now part of the view each request reads by
-- the tenant's schema version: a tenant that set either before has a version past the
-- built-in one.
UPDATE tenants SET schema_version = schema_version + 1
WHERE schema_version = 0 AND (default_role IS NOT NULL OR attribute_mapping IS NOT NULL);
