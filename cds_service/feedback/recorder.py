"""``CardRecorder``: served cards written to the store in the background, in batches.

A hook response never waits for the database: ``submit`` queues the cards and returns at once; one
writer task drains the queue and stores each batch in a worker thread. Nothing is lost silently:
a full queue or a failed write (after one retry) is logged as an error with the number of cards
lost, and counted; shutdown waits (bounded) for the queue to drain. Served cards hold no PHI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import anyio.to_thread

from cds_service.feedback.store import FeedbackStore, ServedCard
from cds_service.hooks.models import Card
from cds_service.rules.base import Finding

log = logging.getLogger(__name__)


def served_cards(
    shown: Iterable[tuple[Finding, Card]],
    service_id: str,
    hook_instance: str,
    content_version: str,
    served_at: datetime | None = None,
) -> list[ServedCard]:
    """The records of the cards one hook call answered with."""
    served_at = served_at or datetime.now(timezone.utc)
    return [
        ServedCard(card.uuid, found.rule_id, service_id, hook_instance, card.indicator, served_at, content_version)
        for found, card in shown
    ]


class CardRecorder:
    """Queues served cards and writes them in batches from one background task."""

    def __init__(
        self, store: FeedbackStore, *, max_pending: int = 10_000, batch_size: int = 500, retry_delay: float = 0.5
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self.max_pending = max_pending
        self.recorded = 0
        self.lost = 0
        self._queue: asyncio.Queue[ServedCard] | None = None
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task (in the running event loop)."""
        self._queue = asyncio.Queue(self.max_pending)
        self._writer = asyncio.create_task(self._run(), name="card-recorder")

    def submit(self, cards: Sequence[ServedCard]) -> None:
        """Queue ``cards`` for writing; never blocks. Cards that do not fit are logged as lost."""
        if self._queue is None:
            self._lose(len(cards), "recorder not started")
            return
        for n, card in enumerate(cards):
            try:
                self._queue.put_nowait(card)
            except asyncio.QueueFull:
                self._lose(len(cards) - n, "queue full")
                return

    async def flush(self) -> None:
        """Wait until every queued card has been written (or logged as lost)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self, timeout: float = 5.0) -> None:
        """Drain the queue (at most ``timeout`` seconds), then stop the writer."""
        if self._writer is None or self._queue is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if not self._queue.empty():
            self._lose(self._queue.qsize(), "shutdown before the queue drained")
        self._queue = self._writer = None

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self.batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _write(self, batch: list[ServedCard]) -> None:
        for attempt in (1, 2):
            try:
                await anyio.to_thread.run_sync(self.store.record_cards, batch)
            except Exception as exc:  # noqa: BLE001 - any database failure: log, retry once, count
                if attempt == 2:
                    self._lose(len(batch), "database write failed", exc)
                    return
                retry = {"cards": len(batch), "error_type": type(exc).__name__}
                log.warning("served cards write failed; retrying", extra=retry)
                await asyncio.sleep(self.retry_delay)
            else:
                self.recorded += len(batch)
                return

    def _lose(self, count: int, why: str, exc: BaseException | None = None) -> None:
        self.lost += count
        extra: dict[str, object] = {"cards": count, "reason": why}
        if exc is not None:  # served cards hold no PHI, so the database's message is safe to log
            extra.update(error_type=type(exc).__name__, error=str(exc)[:500])
        log.error("served cards not recorded", extra=extra)
