-- Run once by the postgres container: a read-only login for Grafana's PostgreSQL datasource.
-- pacer creates the grafana_* views when it migrates; default privileges cover them.
CREATE ROLE grafana_reader LOGIN PASSWORD 'grafana_reader';
GRANT CONNECT ON DATABASE pacer TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE pacer IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
