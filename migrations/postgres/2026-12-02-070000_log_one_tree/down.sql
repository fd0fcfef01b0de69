CREATE INDEX provisioning_log_recent ON provisioning_log (tenant_id, at);
