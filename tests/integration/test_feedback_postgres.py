"""The feedback store on the real PostgreSQL (127.0.0.1:5432, trust auth), as two replicas would share it.

A throwaway database is created for the test session and dropped after it. PostgreSQL not answering
fails these tests (scripts/test.d/30-postgres.sh checks it first); they are never skipped.
``CDS_TEST_PG_URL`` names another server (default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from cds_service.app import create_app
from cds_service.feedback import schema
from cds_service.feedback.migrate import current_revision, head_revision
from cds_service.feedback.report import build_report
from cds_service.feedback.store import CARD_ROWS_PER_STATEMENT, FeedbackRecord, FeedbackStore, ServedCard
from cds_service.settings import Settings
from tests.conftest import condition, hook_body, patient, service_order
from tests.feedback_support import migrate_concurrently, migrated_store
from tests.integration.postgres import throwaway_database

pytestmark = pytest.mark.integration

SERVICE = "/cds-services/neck-pain-order-select"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The URL of a database created for this session (dropped afterwards); fails if PostgreSQL is down."""
    with throwaway_database("cds_feedback_test_", "the feedback store's integration tests need it running with trust auth") as url:
        yield url


@pytest.fixture
def store(pg_url: str) -> Iterator[FeedbackStore]:
    """A migrated store on the session database, emptied before the test."""
    with migrated_store(pg_url) as opened:
        with opened.engine.begin() as conn:
            conn.execute(text("TRUNCATE served_cards, feedback"))
        yield opened


def reset_schema(url: str) -> None:
    store = FeedbackStore.open(url)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS feedback, served_cards, imaging_ratings, alembic_version"))
    store.close()


def test_migrations_run_and_match_the_schema(pg_url: str) -> None:
    """From an empty database the upgrade reaches the head revision and matches schema.py on PostgreSQL."""
    reset_schema(pg_url)
    store = FeedbackStore.open(pg_url)
    try:
        assert current_revision(store.engine) is None
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        assert {"served_cards", "feedback"} <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, schema.metadata) == []
    finally:
        store.close()


def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Several stores migrating an empty database at the same moment all succeed (advisory lock)."""
    reset_schema(pg_url)
    stores = [FeedbackStore.open(pg_url) for _ in range(4)]
    errors = migrate_concurrently(stores, timeout=60)
    try:
        assert errors == []
        assert current_revision(stores[0].engine) == head_revision()
    finally:
        for s in stores:
            s.close()


def test_same_feedback_item_is_stored_once(store: FeedbackStore) -> None:
    """A repeated item (same card, outcome, instant) is ignored, within one request and across requests."""
    item = FeedbackRecord("c-1", "overridden", T0, (), "pt-elsewhere", "urn:reasons", "PT elsewhere", "comment")
    same_instant = FeedbackRecord("c-1", "overridden", T0.astimezone(timezone(timedelta(hours=-5))))
    assert store.record_feedback("svc", [item, item]) == 1
    assert store.record_feedback("svc", [same_instant]) == 0
    assert store.record_feedback("svc", [FeedbackRecord("c-1", "accepted", T0, ("s",))]) == 1
    with store.engine.connect() as conn:
        stored = conn.execute(select(schema.feedback.c.outcome, schema.feedback.c.outcome_at)).all()
    assert sorted(stored) == [("accepted", T0), ("overridden", T0)]


def test_a_large_batch_of_served_cards_with_repeats_is_stored_once_each(store: FeedbackStore) -> None:
    """A batch longer than one statement, repeating a card within it and one stored before, stores each card once."""
    def card(n: int) -> ServedCard:
        return ServedCard(f"c-{n}", "imaging-without-red-flags", "svc", "hi-1", "warning", T0, "v1")

    store.record_cards([card(7)])
    store.record_cards([card(n) for n in range(CARD_ROWS_PER_STATEMENT * 2 + 5)] + [card(3)])
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.served_cards.c.card_uuid, schema.served_cards.c.served_at)).all()
    assert sorted(uuid for uuid, _ in rows) == sorted(f"c-{n}" for n in range(CARD_ROWS_PER_STATEMENT * 2 + 5))
    assert {served_at for _, served_at in rows} == {T0}


def mri_request() -> dict[str, Any]:
    return hook_body(
        [patient(45), condition("M54.2", "Cervicalgia", onset_days=7)],
        [service_order("72141", "MRI cervical spine without contrast")],
    )


def serve_cards(client: TestClient) -> list[dict[str, Any]]:
    response = client.post(SERVICE, json=mri_request())
    assert response.status_code == 200
    client.portal.call(client.app.state.feedback.recorder.flush)  # type: ignore[attr-defined]
    cards = response.json()["cards"]
    assert cards
    return list(cards)


def override(card: dict[str, Any]) -> dict[str, Any]:
    return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2025-03-01T10:00:00Z",
            "overrideReason": {"reason": card["overrideReasons"][0]}}


def test_two_replicas_write_into_one_report(store: FeedbackStore, settings: Settings) -> None:
    """Cards served and feedback received by two app instances (replicas) add up in one report."""
    shared = settings.model_copy(update={"feedback_db_url": store.engine.url.render_as_string(hide_password=False)})
    with TestClient(create_app(shared)) as first, TestClient(create_app(shared)) as second:
        from_first, from_second = serve_cards(first), serve_cards(second)
        # Feedback may reach any replica: each card's feedback goes to the other one, then is resent to both.
        for replica, cards in ((second, from_first), (first, from_second)):
            answer = replica.post(f"{SERVICE}/feedback", json={"feedback": [override(c) for c in cards]})
            assert answer.status_code == 200
        for replica in (first, second):
            resent = {"feedback": [override(c) for c in from_first + from_second]}
            assert replica.post(f"{SERVICE}/feedback", json=resent).status_code == 200
    report = {r.rule_id: r for r in build_report(store.engine)}
    served = len(from_first) + len(from_second)
    assert sum(r.shown for r in report.values()) == served
    assert sum(r.overridden for r in report.values()) == served
    imaging = report["imaging-without-red-flags"]
    assert (imaging.shown, imaging.overridden, imaging.override_rate) == (2, 2, 1.0)
    assert imaging.top_reasons[0].count == 2
    with store.engine.connect() as conn:
        assert len(conn.execute(select(schema.feedback)).all()) == served
