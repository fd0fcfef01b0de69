-- The entitlements a tenant's admin configured for its IdP to read at /Entitlements
-- (draft-ietf-scim-roles-entitlements): a JSON array of {value, display, type, default};
-- NULL: none. Read and replaced whole, like the attribute mapping beside it.
ALTER TABLE tenants ADD COLUMN entitlements TEXT;
