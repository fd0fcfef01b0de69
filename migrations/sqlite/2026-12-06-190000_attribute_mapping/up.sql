-- A tenant's attribute mapping: which SCIM attribute feeds each field of the app's view of a
-- user (JSON; NULL: the standard fields only).
ALTER TABLE tenants ADD COLUMN attribute_mapping TEXT;
