"""The feedback store's tables (SQLAlchemy Core); migrations/ creates and evolves them.

    served_cards   one row per card shown: which rule, service, hook call, indicator, content version
                   (of the whole content set, and the card file's own version)
    imaging_ratings one row per spine imaging order a hook call evaluated: its appropriateness rating,
                   or "unrated"; (hook_instance, order_ref) is unique, so a resent call is stored once
    feedback       one row per feedback item; (card_uuid, outcome, outcome_at) is unique, so a
                   resent item is stored once

No patient or user identifier is stored. ``feedback.card_uuid`` is not a foreign key: feedback for a
card this store never saw (served by another replica before a database reset) is kept all the same.
``feedback.user_comment`` is free text that may hold PHI: it is stored, never logged.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

OUTCOMES = ("accepted", "overridden")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite (no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


served_cards = Table(
    "served_cards",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("rule_id", String(128), nullable=False),
    Column("service_id", String(128), nullable=False),
    Column("hook_instance", String(64), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("served_at", UTCDateTime(), nullable=False),
    Column("content_version", String(64), nullable=False),
    Column("card_version", String(32), nullable=True),  # the card file's version (migration 0002)
    Index(None, "rule_id", "served_at"),
    Index(None, "served_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("card_uuid", String(128), nullable=False),
    Column("service_id", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", JSON(), nullable=True),
    Column("override_code", Text(), nullable=True),
    Column("override_system", Text(), nullable=True),
    Column("override_display", Text(), nullable=True),
    Column("user_comment", Text(), nullable=True),
    Column("outcome_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    UniqueConstraint("card_uuid", "outcome", "outcome_at"),
    CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),
    Index(None, "outcome_at"),
)

imaging_ratings = Table(
    "imaging_ratings",
    metadata,
    Column("hook_instance", String(64), primary_key=True),
    Column("order_ref", String(200), primary_key=True),
    Column("service_id", String(128), nullable=False),
    Column("rating", String(32), nullable=False),
    Column("rated_at", UTCDateTime(), nullable=False),
    Column("content_version", String(64), nullable=False),
    Index(None, "rated_at"),
)
