DROP TABLE set_acks;
DROP TABLE signing_keys;
ALTER TABLE webhooks DROP COLUMN format;
