"""A throwaway database on the real PostgreSQL (127.0.0.1:5432, trust auth) for integration tests.

``CDS_TEST_PG_URL`` names another server (default ``postgresql://postgres@127.0.0.1:5432/test``).
PostgreSQL not answering fails the test (scripts/test.d/30-postgres.sh checks it first); never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("CDS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_database(prefix: str, needed_by: str) -> Iterator[str]:
    """The URL of a new database named ``prefix`` plus random hex, dropped (connections closed) afterwards."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(ADMIN_URL).render_as_string(hide_password=True)} "
            f"({str(exc).strip()}): {needed_by}. scripts/test.d/30-postgres.sh checks it, CDS_TEST_PG_URL names another server.",
            pytrace=False,
        )
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
