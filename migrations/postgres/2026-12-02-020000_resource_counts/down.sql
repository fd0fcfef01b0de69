DROP TRIGGER resources_counted ON resources;
DROP FUNCTION count_resources();
DROP TABLE resource_counts;
