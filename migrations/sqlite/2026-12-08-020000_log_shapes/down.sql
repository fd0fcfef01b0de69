DROP TABLE log_shape_keys;
ALTER TABLE provisioning_log DROP COLUMN shape;
