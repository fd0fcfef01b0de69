-- The provisioning log gets a row for every SCIM request, so each index on it is paid by every
-- request. Its key (tenant, id) already orders a tenant's entries by time (the id starts with
-- the zero-padded time), so (tenant_id, at) served nothing the key does not.
DROP INDEX provisioning_log_recent;
