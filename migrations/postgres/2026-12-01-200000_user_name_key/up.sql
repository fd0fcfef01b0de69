-- userName uniqueness compares a key computed in Rust (RFC 8265's UsernameCaseMapped mappings:
-- width, case, NFC), so "Alice", "alice" and "ＡＬＩＣＥ" are one user; user_name_lc stays for
-- the other operators and sorting. Existing rows get their key from the server at start, in
-- batches, before it serves (src/storage/migrate.rs): SQL cannot compute the same mappings.
ALTER TABLE resources ADD COLUMN user_name_key TEXT;
DROP INDEX resources_user_name;
CREATE UNIQUE INDEX resources_user_name_key ON resources (tenant_id, user_name_key);
-- The users still waiting for their key: empty once the backfill is done, so the check at each
-- start costs nothing.
CREATE INDEX resources_user_name_key_missing ON resources (tenant_id, id)
    WHERE user_name_key IS NULL AND resource_type = 'User';
