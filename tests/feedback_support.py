"""Feedback store helpers shared by the SQLite and PostgreSQL tests: a migrated store, racing migrations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cds_service.feedback.store import FeedbackStore


@contextmanager
def migrated_store(url: str) -> Iterator[FeedbackStore]:
    """A store on ``url`` upgraded to the head revision; closed when the block ends."""
    store = FeedbackStore.open(url)
    try:
        store.migrate()
        yield store
    finally:
        store.close()


def migrate_concurrently(stores: list[FeedbackStore], timeout: float) -> list[BaseException]:
    """Migrate every store at the same moment, one thread each; the errors they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def migrate(store: FeedbackStore) -> None:
        barrier.wait()
        try:
            store.migrate()
        except BaseException as exc:  # noqa: BLE001 - collected for the caller to assert on
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
