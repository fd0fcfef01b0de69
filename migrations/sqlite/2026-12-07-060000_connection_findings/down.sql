DROP TABLE connection_findings;
