-- Event retention finds each tenant's newest event older than the retention with this index,
-- then deletes by primary-key range, so pruning never reads the whole outbox.
CREATE INDEX events_age ON events (tenant_id, occurred_at);
