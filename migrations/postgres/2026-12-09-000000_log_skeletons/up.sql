-- A write's shape is stored in two parts (see `events::shape`): its skeleton, the structure
-- every request of that structure shares, once per tenant; and with each entry the skeleton's
-- id and the placeholders' hashes. A whole shape per entry was about a kilobyte for a user,
-- more than SQLite keeps in a row's page: each logged write cost a page of its own. The
-- shapes kept whole until now are dropped.
ALTER TABLE provisioning_log DROP COLUMN shape;
ALTER TABLE provisioning_log ADD COLUMN skeleton_id TEXT;
ALTER TABLE provisioning_log ADD COLUMN shape_hashes TEXT;

-- `seen_at` is refreshed by the log writer when a skeleton is used again, at most hourly, and
-- pruning keeps a skeleton while an entry may still use it.
CREATE TABLE log_skeletons (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    skeleton TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX log_skeletons_seen ON log_skeletons (seen_at);
