CREATE TABLE provisioning_log_rowid (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    at BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    latency_ms BIGINT NOT NULL,
    scim_type TEXT,
    detail TEXT,
    user_agent TEXT,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO provisioning_log_rowid
    SELECT tenant_id, id, at, method, path, status, resource_type, resource_id, latency_ms,
           scim_type, detail, user_agent
    FROM provisioning_log;
DROP TABLE provisioning_log;
ALTER TABLE provisioning_log_rowid RENAME TO provisioning_log;
CREATE INDEX provisioning_log_recent ON provisioning_log (tenant_id, at);
CREATE INDEX provisioning_log_age ON provisioning_log (at);
