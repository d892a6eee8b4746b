"""``FeedbackStore``: served cards and feedback items in SQLite (default) or PostgreSQL.

The store is synchronous (SQLAlchemy 2 Core on a pooled engine); async callers run its methods in
a worker thread. Writes are insert-or-ignore (``ON CONFLICT DO NOTHING``, which both SQLite and
PostgreSQL speak), so a resent feedback item or a re-recorded card is stored once.
Engines hide bound parameters in their errors and logs: a user comment never reaches a log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

from cds_service.feedback import schema

SUPPORTED = ("sqlite", "postgresql")


@dataclass(frozen=True)
class ServedCard:
    """A card the service answered with (no patient or user identifier)."""

    card_uuid: str
    rule_id: str
    service_id: str
    hook_instance: str
    indicator: str
    served_at: datetime
    content_version: str
    card_version: str | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    """One feedback item as stored. ``user_comment`` may hold PHI: it is left out of ``repr``."""

    card_uuid: str
    outcome: str
    outcome_at: datetime
    accepted_suggestions: tuple[str, ...] = ()
    override_code: str | None = None
    override_system: str | None = None
    override_display: str | None = None
    user_comment: str | None = field(default=None, repr=False)


def database_url(url: str) -> URL:
    """``url`` parsed, with the psycopg 3 driver for plain ``postgresql://`` (or ``postgres://``) URLs."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.get_backend_name() not in SUPPORTED:
        raise ValueError(f"the feedback store supports SQLite and PostgreSQL URLs, not {parsed.get_backend_name()!r}")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL for messages: password hidden."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the report read while the service writes; a busy writer is waited for, not failed."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")  # first: switching to WAL itself may wait for a lock
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """A pooled engine for ``url`` (a SQLite file's directory is created when missing)."""
    parsed = database_url(url)
    options: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if memory:
            options["poolclass"] = StaticPool
        else:
            Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"check_same_thread": False}
        engine = create_engine(parsed, **options)
        if not memory:
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options["pool_pre_ping"] = True
    options["connect_args"] = {"connect_timeout": 10}
    return create_engine(parsed, **options)


# 7 parameters a row: 700 a statement, within the oldest SQLite limit (999) and PostgreSQL's (65,535).
CARD_ROWS_PER_STATEMENT = 100
PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # the drivers' positional styles


def insert_ignore(engine: Engine, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


class FeedbackStore:
    """Served cards and feedback items in one database (shared by every replica on PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._card_statements: dict[int, str] = {}  # built once per store and row count, not per write
        # Each column's conversion of a Python value for the driver (timestamps on SQLite), or None.
        self._card_processors = [c.type.bind_processor(engine.dialect) for c in schema.served_cards.columns]

    @classmethod
    def open(cls, url: str) -> FeedbackStore:
        """A store on ``url``; call ``migrate()`` before the first write."""
        return cls(make_engine(url))

    def migrate(self) -> None:
        """Bring the schema to the latest revision (safe to run from several replicas at once)."""
        from cds_service.feedback.migrate import upgrade

        upgrade(self.engine)

    def record_cards(self, cards: Sequence[ServedCard]) -> None:
        """Store served cards; a card uuid already stored is left as it is."""
        self.record_card_rows([asdict(c) for c in cards])  # the fields are the table's columns

    def record_card_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store ``served_cards`` rows in one transaction (see ``record_calls``)."""
        self.record_calls(rows, ())

    def record_calls(self, rows: Sequence[Mapping[str, Any]], ratings: Sequence[Mapping[str, Any]]) -> None:
        """Store a batch of calls — ``served_cards`` rows and ``imaging_ratings`` rows — in one
        transaction: all of it or none (a retry stores it all again; stored rows are left as they are).

        Cards go up to ``CARD_ROWS_PER_STATEMENT`` rows per ``INSERT … VALUES (…), (…) ON CONFLICT DO
        NOTHING``, not an executemany: the database driver lets go of the GIL around every statement
        it runs, and row by row from the writer thread that is one wait for the event loop's thread
        per card — the hook calls' time, under load."""
        if not rows and not ratings:
            return
        processors = self._card_processors
        names = schema.served_cards.columns.keys()
        with self.engine.begin() as conn:
            for start in range(0, len(rows), CARD_ROWS_PER_STATEMENT):
                chunk = rows[start : start + CARD_ROWS_PER_STATEMENT]
                values = [
                    value if process is None else process(value)
                    for row in chunk
                    for value, process in zip((row[name] for name in names), processors)
                ]
                conn.exec_driver_sql(self._card_statement(len(chunk)), tuple(values))
            if ratings:
                conn.execute(insert_ignore(self.engine, schema.imaging_ratings), list(ratings))

    def _card_statement(self, count: int) -> str:
        """The driver SQL inserting ``count`` served cards (built once per count)."""
        statement = self._card_statements.get(count)
        if statement is None:
            dialect = self.engine.dialect
            quote = dialect.identifier_preparer.quote
            mark = PLACEHOLDERS[dialect.paramstyle]
            columns = schema.served_cards.columns.keys()
            row = "(" + ", ".join([mark] * len(columns)) + ")"
            statement = self._card_statements[count] = (
                f"INSERT INTO {quote(schema.served_cards.name)} ({', '.join(quote(c) for c in columns)}) "
                f"VALUES {', '.join([row] * count)} ON CONFLICT DO NOTHING"
            )
        return statement

    def record_feedback(
        self, service_id: str, items: Iterable[FeedbackRecord], received_at: datetime | None = None
    ) -> int:
        """Store feedback items; returns how many were new (a repeat of card+outcome+time is ignored)."""
        received_at = received_at or datetime.now(timezone.utc)
        # RETURNING (SQLite >= 3.35, PostgreSQL) tells whether the row was new: rowcount is unreliable here.
        statement = insert_ignore(self.engine, schema.feedback).returning(schema.feedback.c.id)
        stored = 0
        with self.engine.begin() as conn:
            for item in items:
                row = asdict(item)
                row["accepted_suggestions"] = list(item.accepted_suggestions) or None
                row.update(service_id=service_id, received_at=received_at)
                stored += conn.execute(statement, row).first() is not None
        return stored

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
