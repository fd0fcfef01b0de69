DROP TABLE unique_values;
DROP TABLE tenant_schemas;
ALTER TABLE tenants DROP COLUMN unknown_extensions;
ALTER TABLE tenants DROP COLUMN schema_version;
