-- Run once by the postgres image on first start (mounted into
-- /docker-entrypoint-initdb.d), as POSTGRES_USER (`tousu`, see docker-compose.yml).
-- One database per service (the console's holds its sessions); each service's migrations (`tousu migrate <name>`)
-- create its tables. Keep this list in step with the services' database URLs:
-- tests/test_deploy_compose.py checks it.

CREATE DATABASE tousu_intake OWNER tousu;
CREATE DATABASE tousu_routing OWNER tousu;
CREATE DATABASE tousu_rectification OWNER tousu;
CREATE DATABASE tousu_notify OWNER tousu;
CREATE DATABASE tousu_console OWNER tousu;

REVOKE ALL ON DATABASE tousu_intake FROM PUBLIC;
REVOKE ALL ON DATABASE tousu_routing FROM PUBLIC;
REVOKE ALL ON DATABASE tousu_rectification FROM PUBLIC;
REVOKE ALL ON DATABASE tousu_notify FROM PUBLIC;
REVOKE ALL ON DATABASE tousu_console FROM PUBLIC;
