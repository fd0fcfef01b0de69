-- An event's id is a time-ordered UUID, unique by construction and never looked up: its global
-- unique index was a fourth B-tree written for every event, and the one index not led by
-- tenant_id (a database sharded by tenant cannot enforce it).
DROP INDEX events_id;
