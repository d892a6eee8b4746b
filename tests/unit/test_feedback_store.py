"""FeedbackStore on a SQLite file: migrations, insert-or-ignore writes, timestamps, URLs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from cds_service.feedback import schema
from cds_service.feedback.migrate import current_revision, head_revision
from cds_service.feedback.store import (
    CARD_ROWS_PER_STATEMENT,
    FeedbackRecord,
    FeedbackStore,
    ServedCard,
    database_url,
    safe_url,
)
from tests.feedback_support import migrate_concurrently, migrated_store

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with migrated_store(f"sqlite:///{tmp_path / 'nested' / 'feedback.sqlite3'}") as opened:
        yield opened


def card(uuid: str = "c-1", rule_id: str = "imaging-without-red-flags") -> ServedCard:
    return ServedCard(uuid, rule_id, "neck-pain-order-select", "hi-1", "warning", T0, "abc123")


def overridden(card_uuid: str = "c-1", at: datetime = T0, comment: str | None = "note") -> FeedbackRecord:
    return FeedbackRecord(card_uuid, "overridden", at, (), "pt-elsewhere", "urn:reasons", "PT elsewhere", comment)


def test_migrations_build_the_declared_schema(store: FeedbackStore) -> None:
    """After the upgrade the database is at the head revision and matches schema.py exactly."""
    assert current_revision(store.engine) == head_revision()
    assert {"served_cards", "feedback", "alembic_version"} <= set(inspect(store.engine).get_table_names())
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata) == []


def test_migrate_twice_is_a_no_op(store: FeedbackStore) -> None:
    """Running the upgrade on an up-to-date database changes nothing and keeps the data."""
    store.record_cards([card()])
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.execute(select(schema.served_cards.c.card_uuid)).scalars().all() == ["c-1"]


def test_same_feedback_item_twice_is_stored_once(store: FeedbackStore) -> None:
    """A resent item (same card, outcome and outcomeTimestamp) is ignored; a later one is kept."""
    assert store.record_feedback("svc", [overridden()]) == 1
    assert store.record_feedback("svc", [overridden(), overridden()]) == 0
    assert store.record_feedback("svc", [overridden(at=T0 + timedelta(minutes=1))]) == 1
    with store.engine.connect() as conn:
        assert len(conn.execute(select(schema.feedback)).all()) == 2


def test_same_instant_in_another_offset_is_the_same_item(store: FeedbackStore) -> None:
    """outcomeTimestamp is compared as an instant: 10:30+01:00 repeats 09:30Z."""
    store.record_feedback("svc", [overridden()])
    later_zone = T0.astimezone(timezone(timedelta(hours=1)))
    assert store.record_feedback("svc", [overridden(at=later_zone)]) == 0


def test_feedback_for_an_unknown_card_is_stored(store: FeedbackStore) -> None:
    """Feedback whose card was never recorded here (another replica, a reset database) is kept."""
    assert store.record_feedback("svc", [overridden(card_uuid="never-served")]) == 1


def test_stored_fields_round_trip(store: FeedbackStore) -> None:
    """Every field comes back as sent, timestamps as aware UTC datetimes."""
    accepted = FeedbackRecord("c-2", "accepted", T0, ("s-1", "s-2"))
    store.record_feedback("svc", [accepted, overridden()], received_at=T0 + timedelta(seconds=5))
    with store.engine.connect() as conn:
        rows = {r.card_uuid: r for r in conn.execute(select(schema.feedback))}
    assert rows["c-2"].accepted_suggestions == ["s-1", "s-2"]
    assert rows["c-2"].override_code is None
    assert (rows["c-1"].override_code, rows["c-1"].override_system, rows["c-1"].user_comment) == (
        "pt-elsewhere", "urn:reasons", "note",
    )
    assert rows["c-1"].outcome_at == T0 and rows["c-1"].outcome_at.tzinfo is not None
    assert rows["c-1"].received_at == T0 + timedelta(seconds=5)
    assert rows["c-1"].service_id == "svc"


def test_a_card_recorded_twice_is_stored_once(store: FeedbackStore) -> None:
    """Served cards are keyed by card uuid; recording the same card again is ignored."""
    store.record_cards([card("c-1"), card("c-2")])
    store.record_cards([card("c-1")])
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.served_cards)).all()
    assert sorted(r.card_uuid for r in rows) == ["c-1", "c-2"]
    assert rows[0].served_at == T0 and rows[0].content_version == "abc123"


def test_a_large_batch_with_repeats_stores_each_card_once(store: FeedbackStore) -> None:
    """A batch longer than one statement, with a card repeated in it and one stored before, stores each card once."""
    store.record_cards([card("c-7")])
    batch = [card(f"c-{i}") for i in range(CARD_ROWS_PER_STATEMENT * 2 + 5)] + [card("c-3")]
    store.record_cards(batch)
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.served_cards)).all()
    assert sorted(r.card_uuid for r in rows) == sorted(f"c-{i}" for i in range(CARD_ROWS_PER_STATEMENT * 2 + 5))
    assert {(r.served_at, r.rule_id, r.content_version) for r in rows} == {(T0, "imaging-without-red-flags", "abc123")}


def test_served_cards_have_no_patient_or_user_columns() -> None:
    """The served-cards and imaging-ratings tables store no patient or user identifier."""
    columns = set(schema.served_cards.c.keys())
    assert columns == {
        "card_uuid", "rule_id", "service_id", "hook_instance", "indicator", "served_at", "content_version", "card_version",
    }
    assert set(schema.imaging_ratings.c.keys()) == {
        "hook_instance", "order_ref", "service_id", "rating", "rated_at", "content_version",
    }


def test_user_comment_is_left_out_of_repr() -> None:
    """The free-text comment (possible PHI) never shows in a record's repr."""
    assert "Mrs Example" not in repr(overridden(comment="Mrs Example refused"))


def test_naive_datetimes_are_refused(store: FeedbackStore) -> None:
    """A timestamp without a time zone is a programming error, not silently local time."""
    with pytest.raises(Exception, match="timezone-aware"):
        store.record_feedback("svc", [overridden(at=T0.replace(tzinfo=None))])


def test_postgresql_urls_use_psycopg() -> None:
    """Plain postgresql:// and postgres:// URLs get the psycopg 3 driver; passwords are hidden in messages."""
    assert database_url("postgresql://u:secret@db/x").drivername == "postgresql+psycopg"
    assert database_url("postgres://u@db/x").drivername == "postgresql+psycopg"
    assert database_url("postgresql+psycopg://u@db/x").drivername == "postgresql+psycopg"
    assert "secret" not in safe_url("postgresql://u:secret@db/x")


def test_other_databases_are_refused() -> None:
    """A URL for a database the store does not support fails with a clear message."""
    with pytest.raises(ValueError, match="SQLite and PostgreSQL"):
        database_url("mysql://root@127.0.0.1/test")


def test_workers_migrating_one_sqlite_file_together_all_start(tmp_path: Path) -> None:
    """Several engines (as uvicorn workers) migrating a new SQLite file at once all succeed, one at a time."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    stores = [FeedbackStore.open(url) for _ in range(4)]
    errors = migrate_concurrently(stores, timeout=30)
    try:
        assert errors == []
        assert current_revision(stores[0].engine) == head_revision()
    finally:
        for store in stores:
            store.close()


def test_a_batch_of_cards_and_ratings_is_stored_whole_or_not_at_all(store: FeedbackStore) -> None:
    """When a batch's rating rows fail to store, its card rows are not stored either; a retry stores both."""
    rating = {"hook_instance": "hi-1", "order_ref": "ServiceRequest/o1", "service_id": "neck-pain-order-select",
              "rating": "not-appropriate", "rated_at": T0, "content_version": "abc123"}  # fmt: skip
    cards = [asdict(card("c-1"))]
    with pytest.raises(Exception):  # noqa: B017 - whatever the database says of a rating row without its rating
        store.record_calls(cards, [{**rating, "rating": None}])

    def counts() -> tuple[int, int]:
        with store.engine.connect() as conn:
            return (len(conn.execute(select(schema.served_cards)).all()), len(conn.execute(select(schema.imaging_ratings)).all()))

    assert counts() == (0, 0)
    store.record_calls(cards, [rating])
    store.record_calls(cards, [rating])  # again, as a retry after an unconfirmed write would
    assert counts() == (1, 1)
