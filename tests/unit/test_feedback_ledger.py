"""Served cards a crash lost are counted on disk and logged by the next process to start."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_service.feedback.ledger import Ledger
from cds_service.feedback.recorder import CardRecorder
from cds_service.feedback.store import FeedbackStore
from tests.feedback_support import migrated_store
from tests.unit.test_feedback_recorder import SlowStore, eventually, submit

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with migrated_store(f"sqlite:///{tmp_path / 'feedback.sqlite3'}") as opened:
        yield opened


def lost_in_crashes(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.__dict__["cards"] for r in caplog.records if r.getMessage() == "served cards lost in a crash"]


async def test_cards_waiting_at_a_crash_are_logged_at_the_next_start(
    store: FeedbackStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A process that dies with cards queued leaves their count on disk; the next start logs exactly the cards not written."""
    state = tmp_path / "state"
    ledger = Ledger(state)
    assert ledger.open() == 0
    recorder = CardRecorder(SlowStore(store, seconds=0.3), batch_size=100, flush_seconds=0.05, ledger=ledger)
    recorder.start()
    for call in range(6):
        submit(recorder, 100, prefix=f"call{call}-")
    assert await eventually(lambda: recorder.recorded >= 100 and ledger.saved is not None and ledger.saved[1] >= 100)
    assert recorder._writer is not None
    recorder._writer.cancel()  # the process dies here: nothing drains, nothing is logged
    await asyncio.gather(recorder._writer, return_exceptions=True)
    queued, written, lost = json.loads(ledger.path.read_text()).values()
    assert queued == 600 and lost == 0 and 100 <= written < 600

    with caplog.at_level(logging.ERROR, logger="cds_service.feedback"):
        assert Ledger(state).open() == 600 - written
    assert lost_in_crashes(caplog) == [600 - written]
    assert not list(state.glob("*.json"))  # reported once


async def test_a_clean_shutdown_leaves_nothing_to_report(
    store: FeedbackStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After a clean shutdown every card is written, the totals file is gone and the next start reports nothing."""
    state = tmp_path / "state"
    ledger = Ledger(state)
    ledger.open()
    recorder = CardRecorder(store, flush_seconds=0.05, ledger=ledger)
    recorder.start()
    submit(recorder, 30)
    await recorder.close()
    assert recorder.recorded == 30 and not list(state.glob("*.json"))
    with caplog.at_level(logging.ERROR, logger="cds_service.feedback"):
        assert Ledger(state).open() == 0
    assert lost_in_crashes(caplog) == []
