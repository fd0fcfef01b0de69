-- How many resources of each type a tenant has, kept by a trigger in the transaction of each
-- insert and delete: a list's totalResults without counting the tenant's rows (COUNT(*) reads
-- every one of them, at each page of a million users). Writers of a tenant already queue on
-- its tenant row, so the count row adds no contention.
CREATE TABLE resource_counts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, resource_type)
);

INSERT INTO resource_counts (tenant_id, resource_type, n)
SELECT tenant_id, resource_type, COUNT(*) FROM resources GROUP BY tenant_id, resource_type;

CREATE FUNCTION count_resources() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts (tenant_id, resource_type, n)
        VALUES (NEW.tenant_id, NEW.resource_type, 1)
        ON CONFLICT (tenant_id, resource_type) DO UPDATE SET n = resource_counts.n + 1;
    ELSE
        UPDATE resource_counts SET n = n - 1
        WHERE tenant_id = OLD.tenant_id AND resource_type = OLD.resource_type;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER resources_counted AFTER INSERT OR DELETE ON resources
FOR EACH ROW EXECUTE FUNCTION count_resources();
