DROP TABLE members;
DROP TABLE resources;
DROP TABLE credentials;
DROP TABLE tenants;
