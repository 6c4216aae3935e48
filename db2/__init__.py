"""The system-of-record boundary: DB-API connections to the simulated or a real Db2 for z/OS,
the SQL dialect differences, and reading the catalog and the ASN control tables."""
