-- sortBy=userName and userName gt/ge/lt/le/sw read user_name_lc in order (BINARY, as the filter
-- compiler orders text), ties in creation order.
CREATE INDEX resources_user_name_order
    ON resources (tenant_id, resource_type, user_name_lc, created_at, id);
