-- What a tenant's traffic says about its identity provider's setup (connection diagnosis): one
-- row per kind of finding. A finding is `watching` while its evidence is below the kind's
-- threshold, `open` once it is shown to the admin (and announced by a connection.finding
-- event), and `resolved` when the admin dismisses it or the traffic shows it fixed. evidence
-- holds the ids of the newest provisioning log entries that showed it, as a JSON array.
CREATE TABLE connection_findings (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    idp TEXT NOT NULL,
    seen BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    opened_at BIGINT,
    resolved_at BIGINT,
    evidence TEXT NOT NULL,
    note TEXT,
    PRIMARY KEY (tenant_id, kind)
);
