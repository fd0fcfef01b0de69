DROP INDEX resources_user_name_order;
ALTER TABLE resources DROP COLUMN doc_json;
