-- Event retention prunes the oldest events first, in batches; this index finds them without
-- reading the whole outbox.
CREATE INDEX events_age ON events (occurred_at);
