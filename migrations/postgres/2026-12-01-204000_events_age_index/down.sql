DROP INDEX events_age;
