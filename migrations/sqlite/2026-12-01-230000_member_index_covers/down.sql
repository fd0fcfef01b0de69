DROP INDEX members_member;
CREATE INDEX members_member ON members (tenant_id, member_id);
