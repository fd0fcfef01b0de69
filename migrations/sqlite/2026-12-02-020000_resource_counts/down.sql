DROP TRIGGER resources_uncounted;
DROP TRIGGER resources_counted;
DROP TABLE resource_counts;
