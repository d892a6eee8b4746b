"""CardRecorder: background, batched writes of served cards that never fail silently."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cds_service.feedback import schema
from cds_service.feedback.recorder import CardRecorder, served_cards
from cds_service.feedback.store import FeedbackStore, ServedCard
from cds_service.hooks.models import Card, Source
from cds_service.rules.base import Finding
from tests.feedback_support import migrated_store

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with migrated_store(f"sqlite:///{tmp_path / 'feedback.sqlite3'}") as opened:
        yield opened


class FailingStore(FeedbackStore):
    """A store whose card writes fail a given number of times."""

    def __init__(self, inner: FeedbackStore, failures: int) -> None:
        super().__init__(inner.engine)
        self.failures = failures

    def record_cards(self, cards: Sequence[ServedCard]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        super().record_cards(cards)


def cards(n: int, prefix: str = "c") -> list[ServedCard]:
    return [ServedCard(f"{prefix}{i}", "rule-a", "svc", "hi", "info", T0, "v1") for i in range(n)]


def stored(store: FeedbackStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.served_cards)).scalar_one())


async def test_queued_cards_are_written_in_batches(store: FeedbackStore) -> None:
    """Cards submitted by many calls are all stored, several per database write."""
    recorder = CardRecorder(store, batch_size=50)
    recorder.start()
    for n in range(20):
        recorder.submit(cards(10, prefix=f"call{n}-"))
    await recorder.flush()
    assert stored(store) == 200 and recorder.recorded == 200 and recorder.lost == 0
    await recorder.close()


async def test_a_failed_write_is_retried_once(store: FeedbackStore) -> None:
    """One transient database failure loses nothing: the batch is written on the retry."""
    recorder = CardRecorder(FailingStore(store, failures=1), retry_delay=0)
    recorder.start()
    recorder.submit(cards(3))
    await recorder.flush()
    assert stored(store) == 3 and recorder.lost == 0
    await recorder.close()


async def test_a_persistent_failure_is_logged_and_counted(
    store: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """When the retry fails too, the lost cards are counted and logged as an error; the writer keeps going."""
    recorder = CardRecorder(FailingStore(store, failures=2), retry_delay=0)
    recorder.start()
    with caplog.at_level(logging.WARNING, logger="cds_service.feedback.recorder"):
        recorder.submit(cards(3))
        await recorder.flush()
    assert recorder.lost == 3
    lost = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert lost and lost[0].getMessage() == "served cards not recorded" and getattr(lost[0], "cards") == 3
    recorder.submit(cards(2, prefix="later"))
    await recorder.flush()
    assert stored(store) == 2
    await recorder.close()


async def test_a_full_queue_drops_and_logs(store: FeedbackStore, caplog: pytest.LogCaptureFixture) -> None:
    """Cards beyond the queue's capacity are counted as lost and logged, never blocking the caller."""
    recorder = CardRecorder(store, max_pending=5)
    recorder.start()
    with caplog.at_level(logging.ERROR, logger="cds_service.feedback.recorder"):
        recorder.submit(cards(8))  # the writer has not run yet: 5 fit
    assert recorder.lost == 3
    assert getattr(caplog.records[0], "reason") == "queue full"
    await recorder.close()
    assert stored(store) == 5


async def test_close_drains_the_queue(store: FeedbackStore) -> None:
    """Shutdown writes the cards still queued before stopping."""
    recorder = CardRecorder(store)
    recorder.start()
    recorder.submit(cards(4))
    await recorder.close()
    assert stored(store) == 4


def test_served_cards_take_rule_and_card_from_each_finding() -> None:
    """Each shown card is recorded with its uuid, indicator and the finding's rule id."""
    card = Card(summary="s", indicator="warning", source=Source(label="l"))
    finding = Finding("rule-x", orders=(), reasons=())
    [record] = served_cards([(finding, card)], "svc", "hook-1", "v9", T0)
    assert record == ServedCard(card.uuid, "rule-x", "svc", "hook-1", "warning", T0, "v9")
