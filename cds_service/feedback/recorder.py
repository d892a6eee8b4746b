"""``CardRecorder``: served cards written to the store in the background, in batches.

A hook response never waits for the database, nor for a thread: ``submit`` appends one tuple per
hook call to an in-memory queue and returns. One writer task wakes every ``flush_seconds`` (or at
once when ``batch_size`` cards are waiting), builds the rows and stores one batch per wake-up in a
worker thread, with multi-row ``INSERT`` statements (``FeedbackStore.record_calls``). Nothing
is lost silently: a full queue or a failed write (after one retry) is logged as an error with the
number of cards lost, and counted; shutdown waits (bounded) for the queue to drain. A process
killed outright loses what was waiting: with a ``Ledger`` the totals are kept on disk each tick and
the next process to start logs what was lost (``feedback/ledger.py``). Served cards hold no PHI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

import anyio.to_thread

from cds_service.feedback.ledger import Ledger
from cds_service.feedback.store import FeedbackStore
from cds_service.protocol.models import Card
from cds_service.rules.base import Finding

log = logging.getLogger(__name__)

Shown = tuple[str, str, str, str | None]  # card uuid, rule id, indicator, the card's content version
Rated = tuple[str, str]  # order reference, rating (or "unrated")
# service id, hook instance, content version, served at, cards, imaging order ratings
Call = tuple[str, str, str, datetime, Sequence[Shown], Sequence[Rated]]


def shown_cards(shown: Iterable[tuple[Finding, Card]], versions: Mapping[str, str | None] | None = None) -> list[Shown]:
    """What is recorded of each card a hook call answered with (``versions``: rule id → card version)."""
    versions = versions or {}
    return [(card.uuid, found.rule_id, card.indicator, versions.get(found.rule_id)) for found, card in shown]


def card_rows(calls: Iterable[Call]) -> list[dict[str, Any]]:
    """The ``served_cards`` rows of queued hook calls."""
    return [
        {
            "card_uuid": uuid,
            "rule_id": rule_id,
            "service_id": service_id,
            "hook_instance": hook_instance,
            "indicator": indicator,
            "served_at": served_at,
            "content_version": content_version,
            "card_version": card_version,
        }
        for service_id, hook_instance, content_version, served_at, cards, _ in calls
        for uuid, rule_id, indicator, card_version in cards
    ]


def rating_rows(calls: Iterable[Call]) -> list[dict[str, Any]]:
    """The ``imaging_ratings`` rows of queued hook calls."""
    return [
        {
            "hook_instance": hook_instance,
            "order_ref": order_ref,
            "service_id": service_id,
            "rating": rating,
            "rated_at": served_at,
            "content_version": content_version,
        }
        for service_id, hook_instance, content_version, served_at, _, ratings in calls
        for order_ref, rating in ratings
    ]


class Ticks(Protocol):
    """When the writer wakes: ``wait`` returns once ``wake`` is set or the next tick is due."""

    async def wait(self, wake: asyncio.Event, seconds: float) -> None: ...


class IntervalTicks:
    """A tick every ``seconds`` of the event loop's clock (the service's)."""

    async def wait(self, wake: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await wake.wait()


class CardRecorder:
    """Queues served cards and writes them in batches from one background task.

    ``batch_size`` is the number of waiting cards that wakes the writer early and about the most
    one write holds (a hook call's cards are never split across writes).
    """

    def __init__(
        self,
        store: FeedbackStore,
        *,
        flush_seconds: float = 0.2,
        max_pending: int = 10_000,
        batch_size: int = 500,
        retry_delay: float = 0.5,
        ledger: Ledger | None = None,
        ticks: Ticks | None = None,
    ) -> None:
        self.store = store
        self.ticks = ticks or IntervalTicks()
        self.ledger = ledger
        self._saved_at = 0.0
        self.submitted = 0
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self.max_pending = max_pending
        self.recorded = 0
        self.lost = 0
        self.writes = 0
        self._calls: deque[Call] = deque()
        self._pending = 0  # cards queued or being written
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._flushing = False  # a flush waits: write every batch, not one a tick
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task (in the running event loop)."""
        self._writer = asyncio.create_task(self._run(), name="card-recorder")

    def submit(
        self,
        service_id: str,
        hook_instance: str,
        content_version: str,
        cards: Sequence[Shown],
        served_at: datetime | None = None,
        ratings: Sequence[Rated] = (),
    ) -> None:
        """Queue one hook call's ``cards`` (and imaging order ``ratings``, which ride along and count
        toward the queue's bound, not the card totals) for writing; never blocks. Cards that do not
        fit are logged as lost."""
        self.submitted += len(cards)
        if self._writer is None:
            self._lose(len(cards), "recorder not started")
            return
        room = self.max_pending - self._pending
        if len(cards) > room:
            self._lose(len(cards) - room, "queue full")
            cards = cards[:room]
            ratings = ()
            if not cards:
                return
        elif len(cards) + len(ratings) > room:
            log.error("imaging ratings not recorded", extra={"ratings": len(ratings), "reason": "queue full"})
            ratings = ()
        if not cards and not ratings:
            return
        self._calls.append((service_id, hook_instance, content_version, served_at or datetime.now(timezone.utc), cards, ratings))
        self._pending += len(cards) + len(ratings)
        if self._pending >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        if self.ledger is not None and time.monotonic() - self._saved_at >= self.flush_seconds:
            self._save()  # the writer may be stuck in a slow write: the totals stay current regardless

    async def flush(self) -> None:
        """Write every queued card now and wait until it is written (or logged as lost)."""
        if self._pending and self._writer is not None:
            self._flushing = True
            self._drained.clear()
            self._wake.set()
            await self._drained.wait()

    async def close(self, timeout: float = 5.0) -> None:
        """Drain the queue (at most ``timeout`` seconds), then stop the writer."""
        if self._writer is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None
        if self._pending:
            self._lose(self._pending, "shutdown before the queue drained")
            self._calls.clear()
            self._pending = 0
        if self.ledger is not None:  # every card is written or logged as lost
            self.ledger.close()

    async def _run(self) -> None:
        while True:
            await self.ticks.wait(self._wake, self.flush_seconds)
            self._wake.clear()
            self._save()  # what is queued now is on disk before the write that may never finish
            # One batch a tick, unless a full batch waits or a flush asks for everything: writing at
            # once whatever arrived during the last write would keep the writer thread busy without
            # end, and each of its writes costs the hook calls a few GIL hand-offs.
            while self._calls:
                await self._write(self._take())
                self._save()
                if not self._flushing and self._pending < self.batch_size:
                    break
            if not self._calls:
                self._flushing = False
                self._drained.set()
            self._save()

    def _save(self) -> None:
        """Keep the totals on disk (a no-op when unchanged), for the reckoning after a crash."""
        if self.ledger is not None:
            self._saved_at = time.monotonic()
            self.ledger.save((self.submitted, self.recorded, self.lost))

    def _take(self) -> list[Call]:
        batch, size = [], 0
        while self._calls and size < self.batch_size:
            call = self._calls.popleft()
            batch.append(call)
            size += len(call[4]) + len(call[5])
        return batch

    async def _write(self, batch: list[Call]) -> None:
        rows = card_rows(batch)
        ratings = rating_rows(batch)
        done = False
        try:
            for attempt in (1, 2):
                try:
                    await anyio.to_thread.run_sync(self.store.record_calls, rows, ratings)
                except Exception as exc:  # noqa: BLE001 - any database failure: log, retry once, count
                    if attempt == 2:
                        done = True
                        self._lose(len(rows), "database write failed", exc)
                        return
                    retry = {"cards": len(rows), "error_type": type(exc).__name__}
                    log.warning("served cards write failed; retrying", extra=retry)
                    await asyncio.sleep(self.retry_delay)
                else:
                    done = True
                    self.recorded += len(rows)
                    self.writes += 1
                    return
        finally:
            self._pending -= len(rows) + len(ratings)
            if not done:  # stopped (shutdown timeout) before the batch was confirmed written
                self._lose(len(rows), "shutdown before the queue drained")

    def _lose(self, count: int, why: str, exc: BaseException | None = None) -> None:
        self.lost += count
        extra: dict[str, object] = {"cards": count, "reason": why}
        if exc is not None:  # served cards hold no PHI, so the database's message is safe to log
            extra.update(error_type=type(exc).__name__, error=str(exc)[:500])
        log.error("served cards not recorded", extra=extra)
