DROP INDEX resources_user_name_key_missing;
DROP INDEX resources_user_name_key;
CREATE UNIQUE INDEX resources_user_name ON resources (tenant_id, user_name_lc);
ALTER TABLE resources DROP COLUMN user_name_key;
