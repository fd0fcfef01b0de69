-- A member's display is what the client sent with the membership (RFC 7644 §3.5.2.1
-- examples), returned as sent; nothing is derived for it.
ALTER TABLE members ADD COLUMN display TEXT;
