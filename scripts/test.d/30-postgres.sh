# The real PostgreSQL for the feedback store's integration tests: 127.0.0.1:5432, trust auth.
# Checks it answers and that the database the tests connect to first exists (creating it if not);
# the tests themselves create and drop a throwaway database per run. Unreachable = fail, loudly.
set -euo pipefail
url=${CDS_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
.venv/bin/python - "$url" <<'PY'
import sys

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

url = sys.argv[1]
params = conninfo_to_dict(url)
dbname = params.get("dbname") or "test"
try:
    admin = psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True, connect_timeout=5)
except psycopg.OperationalError as exc:
    sys.exit(
        f"PostgreSQL is not reachable at {params.get('host')}:{params.get('port', 5432)} as {params.get('user')} "
        f"({str(exc).strip()}).\nThe feedback store's integration tests need it: start it "
        "(Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set CDS_TEST_PG_URL."
    )
with admin:
    if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        print(f"created database {dbname}")
    version = admin.execute("SHOW server_version").fetchone()[0]
print(f"PostgreSQL {version} reachable; database {dbname} ready")
PY
