DROP TABLE log_skeletons;
ALTER TABLE provisioning_log DROP COLUMN shape_hashes;
ALTER TABLE provisioning_log DROP COLUMN skeleton_id;
ALTER TABLE provisioning_log ADD COLUMN shape TEXT;
