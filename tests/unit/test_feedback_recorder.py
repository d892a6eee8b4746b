"""CardRecorder: background, batched writes of served cards that never fail silently."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cds_service.feedback import schema
from cds_service.feedback.recorder import CardRecorder, card_rows, shown_cards
from cds_service.feedback.report import build_report
from cds_service.feedback.store import FeedbackRecord, FeedbackStore
from cds_service.protocol.models import Card, Source
from cds_service.rules.base import Finding
from tests.feedback_support import migrated_store

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
LONG = 30.0  # a flush interval no test waits out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with migrated_store(f"sqlite:///{tmp_path / 'feedback.sqlite3'}") as opened:
        yield opened


class FailingStore(FeedbackStore):
    """A store whose card writes fail a given number of times."""

    def __init__(self, inner: FeedbackStore, failures: int) -> None:
        super().__init__(inner.engine)
        self.failures = failures

    def record_calls(self, rows: Sequence[Mapping[str, Any]], ratings: Sequence[Mapping[str, Any]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        super().record_calls(rows, ratings)


class ManualTicks:
    """The recorder's clock in the test's hand: a tick comes when ``tick`` is called, never by itself."""

    def __init__(self) -> None:
        self._tick = asyncio.Event()
        self.waiting = 0  # how many times the writer has started waiting for a tick

    async def wait(self, wake: asyncio.Event, seconds: float) -> None:
        self.waiting += 1
        waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._tick.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        self._tick.clear()

    def tick(self) -> None:
        self._tick.set()


class SlowStore(FeedbackStore):
    """A store whose card writes take ``seconds`` each."""

    def __init__(self, inner: FeedbackStore, seconds: float) -> None:
        super().__init__(inner.engine)
        self.seconds = seconds
        self.writing = threading.Event()
        self.starts = 0

    def record_calls(self, rows: Sequence[Mapping[str, Any]], ratings: Sequence[Mapping[str, Any]]) -> None:
        self.starts += 1
        self.writing.set()
        time.sleep(self.seconds)
        super().record_calls(rows, ratings)


def submit(recorder: CardRecorder, n: int, prefix: str = "c") -> None:
    """One hook call's worth of ``n`` cards."""
    shown = [(f"{prefix}{i}", "rule-a", "info", None) for i in range(n)]
    recorder.submit("svc", f"hi-{prefix}", "v1", shown, T0)


def stored(store: FeedbackStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.served_cards)).scalar_one())


async def eventually(condition: Any, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_many_calls_are_written_in_few_batches(store: FeedbackStore) -> None:
    """Cards submitted by many hook calls are all stored with one database write per batch, not per call."""
    recorder = CardRecorder(store, batch_size=50, flush_seconds=LONG)
    recorder.start()
    for n in range(20):
        submit(recorder, 10, prefix=f"call{n}-")
    await recorder.flush()
    assert stored(store) == 200 and recorder.recorded == 200 and recorder.lost == 0
    assert recorder.writes == 4
    await recorder.close()


async def test_cards_wait_for_the_flush_interval(store: FeedbackStore) -> None:
    """Cards of separate calls are not written one call at a time but together at the next tick of the interval."""
    ticks = ManualTicks()
    recorder = CardRecorder(store, ticks=ticks)
    recorder.start()
    assert await eventually(lambda: ticks.waiting == 1)
    for n in range(5):
        submit(recorder, 2, prefix=f"call{n}-")
        await asyncio.sleep(0.01)
    assert stored(store) == 0 and recorder.writes == 0  # no tick yet: nothing written
    ticks.tick()
    assert await eventually(lambda: stored(store) == 10)
    assert recorder.writes == 1
    await recorder.close()


async def test_interval_ticks_wait_the_interval_or_a_wake() -> None:
    """The service's clock: a wait ends after its seconds with no wake, and at once when woken."""
    from cds_service.feedback.recorder import IntervalTicks

    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await IntervalTicks().wait(wake, 0.05)
    assert loop.time() - started >= 0.05
    wake.set()
    started = loop.time()
    await IntervalTicks().wait(wake, LONG)
    assert loop.time() - started < LONG / 2


async def test_a_full_batch_is_written_before_the_interval(store: FeedbackStore) -> None:
    """Once ``batch_size`` cards wait, the writer runs at once instead of waiting out the interval."""
    recorder = CardRecorder(store, batch_size=6, flush_seconds=LONG)
    recorder.start()
    for n in range(3):
        submit(recorder, 2, prefix=f"call{n}-")
    assert await eventually(lambda: stored(store) == 6, within=2.0)
    assert recorder.writes == 1
    await recorder.close()


async def test_cards_arriving_during_a_write_wait_for_the_next_tick(store: FeedbackStore) -> None:
    """Cards submitted while a write runs are written at the next interval, not at once after it."""
    slow = SlowStore(store, 0.2)
    ticks = ManualTicks()
    recorder = CardRecorder(slow, batch_size=100, ticks=ticks)
    recorder.start()
    submit(recorder, 2, prefix="first-")
    ticks.tick()
    assert await eventually(slow.writing.is_set, within=2.0)
    submit(recorder, 2, prefix="during-")  # the first write is running in its thread
    assert await eventually(lambda: recorder.writes == 1 and ticks.waiting == 2, within=2.0)
    assert slow.starts == 1 and stored(store) == 2  # the second call waits for its tick
    ticks.tick()
    assert await eventually(lambda: recorder.writes == 2 and stored(store) == 4, within=2.0)
    await recorder.close()


async def test_a_failed_write_is_retried_once(store: FeedbackStore) -> None:
    """One transient database failure loses nothing: the batch is written on the retry."""
    recorder = CardRecorder(FailingStore(store, failures=1), retry_delay=0)
    recorder.start()
    submit(recorder, 3)
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
        submit(recorder, 3)
        await recorder.flush()
    assert recorder.lost == 3
    lost = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert lost and lost[0].getMessage() == "served cards not recorded" and getattr(lost[0], "cards") == 3
    submit(recorder, 2, prefix="later")
    await recorder.flush()
    assert stored(store) == 2
    await recorder.close()


async def test_a_full_queue_drops_and_logs(store: FeedbackStore, caplog: pytest.LogCaptureFixture) -> None:
    """Cards beyond the queue's capacity are counted as lost and logged with their number, never blocking the caller."""
    recorder = CardRecorder(store, max_pending=5, flush_seconds=LONG)
    recorder.start()
    with caplog.at_level(logging.ERROR, logger="cds_service.feedback.recorder"):
        submit(recorder, 3, prefix="a")
        submit(recorder, 3, prefix="b")  # 2 of these fit
        submit(recorder, 1, prefix="c")  # none fits
    assert recorder.lost == 2
    assert [(r.getMessage(), getattr(r, "reason"), getattr(r, "cards")) for r in caplog.records] == [
        ("served cards not recorded", "queue full", 1),
        ("served cards not recorded", "queue full", 1),
    ]
    await recorder.close()
    assert stored(store) == 5


async def test_close_drains_the_queue(store: FeedbackStore) -> None:
    """Shutdown writes the cards still queued before stopping, without waiting out the interval."""
    recorder = CardRecorder(store, flush_seconds=LONG)
    recorder.start()
    submit(recorder, 4)
    started = time.monotonic()
    await recorder.close()
    assert stored(store) == 4 and time.monotonic() - started < 5


async def test_close_waits_a_bounded_time_and_logs_what_is_left(
    store: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """When the database is too slow to drain the queue in time, shutdown stops and logs the unwritten cards."""
    recorder = CardRecorder(SlowStore(store, seconds=0.3), batch_size=1, flush_seconds=LONG)
    recorder.start()
    for n in range(5):
        submit(recorder, 1, prefix=f"call{n}-")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="cds_service.feedback.recorder"):
        await recorder.close(timeout=0.1)
    assert time.monotonic() - started < 2
    assert recorder.lost >= 4 and stored(store) + recorder.lost >= 5
    reasons = {getattr(r, "reason") for r in caplog.records}
    assert reasons == {"shutdown before the queue drained"}


async def test_submit_before_start_is_logged(caplog: pytest.LogCaptureFixture, store: FeedbackStore) -> None:
    """Cards submitted to a recorder that is not running are counted and logged, not kept."""
    recorder = CardRecorder(store)
    with caplog.at_level(logging.ERROR, logger="cds_service.feedback.recorder"):
        submit(recorder, 2)
    assert recorder.lost == 2 and getattr(caplog.records[0], "reason") == "recorder not started"


async def test_feedback_for_a_card_still_queued_counts_once_written(store: FeedbackStore) -> None:
    """Feedback that arrives before its card is written is stored, and the report joins them once the card is."""
    recorder = CardRecorder(store, flush_seconds=LONG)
    recorder.start()
    submit(recorder, 1, prefix="queued")
    assert store.record_feedback("svc", [FeedbackRecord("queued0", "overridden", T0)]) == 1
    await recorder.close()
    [row] = build_report(store.engine)
    assert (row.rule_id, row.shown, row.overridden) == ("rule-a", 1, 1)


def test_rows_take_rule_and_card_from_each_finding() -> None:
    """Each shown card becomes a row with its uuid, indicator, the finding's rule id and the call's fields."""
    card = Card(summary="s", indicator="warning", source=Source(label="l"))
    finding = Finding("rule-x", orders=(), reasons=())
    rows = card_rows([("svc", "hook-1", "v9", T0, shown_cards([(finding, card)]), ())])
    assert rows == [
        {
            "card_uuid": card.uuid, "rule_id": "rule-x", "service_id": "svc", "hook_instance": "hook-1",
            "indicator": "warning", "served_at": T0, "content_version": "v9", "card_version": None,
        }
    ]
