ALTER TABLE tenants DROP COLUMN entitlements;
