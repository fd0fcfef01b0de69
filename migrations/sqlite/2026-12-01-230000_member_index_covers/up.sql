-- The groups of a user are read by member id. With (tenant_id, member_id) alone, the group id
-- had to come from the table, so SQLite's planner preferred the primary key's covering prefix
-- (tenant_id) and read every membership of the tenant for each user rendered. Carrying the
-- group id makes this index cover the lookup: one range of the member's own rows.
DROP INDEX members_member;
CREATE INDEX members_member ON members (tenant_id, member_id, group_id);
