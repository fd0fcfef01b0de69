-- Replay (`scimitar conformance --from-log`): each logged write keeps its body's shape, the
-- structure with every value replaced by a placeholder (JSON text, bounded in size; never a
-- password). Placeholders are keyed hashes, so the same value reads the same within a tenant
-- without being revealed; the key is the deployment's, shared by every instance on the
-- database.
ALTER TABLE provisioning_log ADD COLUMN shape TEXT;

CREATE TABLE log_shape_keys (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
