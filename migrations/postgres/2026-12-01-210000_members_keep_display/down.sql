ALTER TABLE members DROP COLUMN display;
