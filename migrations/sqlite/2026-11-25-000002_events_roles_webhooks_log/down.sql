DROP TABLE provisioning_log;
DROP TABLE webhook_attempts;
DROP TABLE webhooks;
DROP TABLE role_mappings;
DROP TABLE events;
ALTER TABLE credentials DROP COLUMN last_used_at;
ALTER TABLE credentials DROP COLUMN expires_at;
ALTER TABLE tenants DROP COLUMN default_role;
ALTER TABLE tenants DROP COLUMN event_seq;
