"""The feedback parts of a running service: opened (and migrated) at start-up, closed at shutdown.

``start`` fails start-up when the database cannot be reached or migrated: a wrong URL or missing
credentials show at once rather than as lost records. Once running, a database failure never
fails a hook call (``record_served`` only queues); a feedback POST answers 503 so the client
resends it (feedback is idempotent).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from cds_service.errors import Issue, ServiceError
from cds_service.feedback.ledger import Ledger
from cds_service.feedback.recorder import CardRecorder, shown_cards
from cds_service.feedback.store import FeedbackRecord, FeedbackStore, safe_url
from cds_service.content.outcome import Outcome
from cds_service.pama import UNRATED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Feedback:
    """The store and the background card recorder of one app instance."""

    store: FeedbackStore
    recorder: CardRecorder


class FeedbackUnavailable(ServiceError):
    def __init__(self) -> None:
        super().__init__(503, (Issue("feedback could not be stored; send it again later", code="transient"),))


async def start(url: str, flush_seconds: float = 0.2, state_dir: Path | None = None) -> Feedback:
    """Open the store at ``url``, migrate it to the latest revision and start the card recorder
    (which writes the served cards every ``flush_seconds``; with ``state_dir``, keeping its totals
    there and first logging what processes that crashed lost)."""
    store = FeedbackStore.open(url)
    try:
        await anyio.to_thread.run_sync(store.migrate)
    except Exception as exc:  # connection and migration errors quote no row data
        error = str(getattr(exc, "orig", None) or exc).strip()[:500]
        log.error("feedback store unavailable at start-up", extra={"db": safe_url(store.engine.url), "error": error})
        await anyio.to_thread.run_sync(store.close)
        raise
    ledger = Ledger(state_dir) if state_dir is not None else None
    if ledger is not None:
        await anyio.to_thread.run_sync(ledger.open)
    recorder = CardRecorder(store, flush_seconds=flush_seconds, ledger=ledger)
    recorder.start()
    log.info("feedback store ready", extra={"db": safe_url(store.engine.url)})
    return Feedback(store, recorder)


async def stop(feedback: Feedback) -> None:
    """Write the cards still queued (bounded wait), then close the database connections."""
    await feedback.recorder.close()
    await anyio.to_thread.run_sync(feedback.store.close)


def record_served(
    feedback: Feedback | None, service_id: str, hook_instance: str, outcome: Outcome, content_version: str
) -> None:
    """Queue the cards a hook call answered with; returns at once and never fails the hook call."""
    if not outcome.shown and not outcome.ratings:
        return
    if feedback is None:
        log.error(
            "served cards not recorded", extra={"cards": len(outcome.shown), "reason": "feedback store not started"}
        )
        return
    try:
        ratings = [(r.order.ref, r.value or UNRATED) for r in outcome.ratings]
        cards = shown_cards(outcome.shown, outcome.card_versions)
        feedback.recorder.submit(service_id, hook_instance, content_version, cards, ratings=ratings)
    except Exception as exc:  # noqa: BLE001 - the cards are already answered; log the loss and move on
        log.error("served cards not recorded", extra={"cards": len(outcome.shown), "error_type": type(exc).__name__})


async def receive(feedback: Feedback | None, service_id: str, items: list[FeedbackRecord]) -> int:
    """Store validated feedback items (a repeat is ignored); 503 when the database fails."""
    if feedback is None:
        raise FeedbackUnavailable()
    try:
        stored = await anyio.to_thread.run_sync(feedback.store.record_feedback, service_id, items)
    except Exception as exc:  # noqa: BLE001 - never log the exception text: a failing row may hold the comment
        failure = {"service_id": service_id, "items": len(items), "error_type": type(exc).__name__}
        log.error("feedback not stored", extra=failure)
        raise FeedbackUnavailable() from None
    outcomes = Counter(item.outcome for item in items)
    log.info(
        "feedback received",
        extra={"service_id": service_id, "items": len(items), "stored": stored, "outcomes": dict(outcomes)},
    )
    return stored
