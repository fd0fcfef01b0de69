-- Nothing to undo: a higher schema version only makes instances read the tenant's view again.
SELECT 1;
