ALTER TABLE credentials DROP COLUMN mode;
ALTER TABLE tenants DROP COLUMN shadow_of;
ALTER TABLE tenants DROP COLUMN mode_since;
ALTER TABLE tenants DROP COLUMN mode;
