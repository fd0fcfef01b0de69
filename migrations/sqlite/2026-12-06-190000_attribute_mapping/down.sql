ALTER TABLE tenants DROP COLUMN attribute_mapping;
