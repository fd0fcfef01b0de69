-- Filters on attributes without a column of their own read the document as jsonb: a stored
-- jsonb copy spares parsing the text of every row a filter visits (the text stays what clients
-- get back, in its own key order). A document holding the escape \u0000, which jsonb cannot
-- hold (stored before such input was refused), gets NULL: filters find nothing in it instead of
-- failing for the whole tenant.
ALTER TABLE resources ADD COLUMN doc_json JSONB GENERATED ALWAYS AS (
    CASE
        WHEN strpos(doc, '\u0000') > 0 AND doc ~ '(^|[^\\])(\\\\)*\\u0000' THEN NULL
        ELSE doc::jsonb
    END
) STORED;
-- sortBy=userName and userName gt/ge/lt/le/sw read user_name_lc in bytewise order (COLLATE "C",
-- as the filter compiler orders text), ties in creation order.
CREATE INDEX resources_user_name_order
    ON resources (tenant_id, resource_type, user_name_lc COLLATE "C", created_at, id);
