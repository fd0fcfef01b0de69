-- Distributing Scimitar's PostgreSQL schema with Citus, by tenant.
--
-- Run once on the coordinator, after `scimitar migrate` and before any tenant is created. Every
-- table a tenant owns leads its keys with tenant_id, so a tenant's rows live on one worker and
-- each SCIM request is a single-shard query; the tables looked up by a key other than the tenant
-- (a credential by its key id, a portal link by its token) are small and replicated to every
-- worker. tests/api/citus.rs checks this file against the schema the migrations make: every table
-- named once, every unique key of a distributed table holding tenant_id, every foreign key
-- between distributed tables joining on it.

SELECT create_reference_table('tenants');
SELECT create_reference_table('credentials');
SELECT create_reference_table('portal_links');
SELECT create_reference_table('portal_sessions');
-- The deployment's SET signing keys belong to no tenant; every instance signs with them.
SELECT create_reference_table('signing_keys');
-- The deployment's key of the provisioning log's shape placeholders, likewise.
SELECT create_reference_table('log_shape_keys');

SELECT create_distributed_table('resources', 'tenant_id');
SELECT create_distributed_table('members', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('unique_values', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('resource_counts', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('tenant_schemas', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('role_mappings', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('events', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('event_cursors', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('connection_findings', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('webhooks', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('set_acks', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('webhook_attempts', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('provisioning_log', 'tenant_id', colocate_with => 'resources');
SELECT create_distributed_table('log_skeletons', 'tenant_id', colocate_with => 'resources');
