ALTER TABLE credentials DROP COLUMN schema_version;
