"""Alembic, driven from code: upgrade the feedback store to the latest revision, or read its revision.

There is no alembic.ini; the configuration points at this package's ``migrations/`` directory and
hands Alembic an open connection. On PostgreSQL the upgrade holds a transaction-scoped advisory
lock, so replicas starting together migrate one after another (the later ones find nothing to do).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x0CD5_FEED  # any constant the other users of the database do not take


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the feedback migrations, on ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no feedback migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic's own INFO lines (plugin set-up, context impl) are noise in the service log."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        alembic_log.setLevel(level)


@contextlib.contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Hold the database's lock for the whole migration, so concurrent migrators take turns.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: ``BEGIN IMMEDIATE`` takes the write lock at
    once (other processes wait for it: busy_timeout); Python's sqlite3 would otherwise run each DDL
    statement outside any transaction and two workers starting together would both create the tables.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
        yield
        return
    raw = conn.connection.driver_connection
    saved = raw.isolation_level  # type: ignore[union-attr]
    raw.isolation_level = None  # type: ignore[union-attr]  # no implicit BEGIN: ours is the transaction
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield
    finally:
        raw.isolation_level = saved  # type: ignore[union-attr]


def upgrade(engine: Engine, attempts: int = 6) -> None:
    """Migrate the database to the head revision, in one transaction, one migrator at a time.

    SQLite may answer "database is locked" at once, without waiting (when several new connections
    switch a fresh file to WAL together); the migration is then tried again after a short pause.
    """
    for attempt in range(1, attempts + 1):
        try:
            _upgrade_once(engine)
            return
        except OperationalError as exc:
            if engine.dialect.name != "sqlite" or "locked" not in str(exc) or attempt == attempts:
                raise
            time.sleep(0.1 * attempt)


def _upgrade_once(engine: Engine) -> None:
    with _quiet_alembic(), engine.begin() as conn, _migration_lock(conn):
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(alembic_config(conn), "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("feedback store migrated", extra={"from_revision": before, "to_revision": after})
