-- Tenants, their SCIM credentials, resources (Users and Groups) and group memberships.
-- tenant_id leads every key of tenant data so the tables can later be sharded by tenant.

CREATE TABLE tenants (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenants_name ON tenants (name);

-- A credential is one SCIM bearer token: its public key id and the argon2id hash of its secret.
CREATE TABLE credentials (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX credentials_tenant ON credentials (tenant_id);

-- The canonical SCIM JSON lives in doc; the other columns are extracted for lookups and sorting,
-- and display is the name shown for the resource in members and groups lists.
CREATE TABLE resources (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    user_name_lc TEXT,
    external_id TEXT,
    display_name_lc TEXT,
    active BOOLEAN,
    email_lc TEXT,
    display TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    password_hash TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- userName is unique per tenant, compared case-insensitively; groups leave it NULL.
CREATE UNIQUE INDEX resources_user_name ON resources (tenant_id, user_name_lc);
-- Lists are ordered by (created_at, id); lookup indexes end with those columns so one index
-- both finds and orders the rows.
CREATE INDEX resources_listing ON resources (tenant_id, resource_type, created_at, id);
CREATE INDEX resources_external_id ON resources (tenant_id, resource_type, external_id, created_at, id);
CREATE INDEX resources_display_name ON resources (tenant_id, resource_type, display_name_lc, created_at, id);

-- One row per membership, so adding a member to a large group writes one row.
CREATE TABLE members (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX members_member ON members (tenant_id, member_id);
