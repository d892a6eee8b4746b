"""kill -9 with served cards waiting: the next start on the same state directory logs how many were lost."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from cds_service.fixtures import hook_request
from tests.integration.service_process import Service, running_service

pytestmark = pytest.mark.integration

PATH = "/cds-services/neck-pain-order-select"


def serve_calls(service: Service, calls: int) -> int:
    """Make ``calls`` hook calls; returns the number of cards answered."""
    cards = 0
    for _ in range(calls):
        response = httpx.post(service.url + PATH, json=hook_request("v2-order-select"), timeout=20)
        assert response.status_code == 200
        cards += len(response.json()["cards"])
    return cards


def stored_cards(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as connection:
        return int(connection.execute("SELECT count(*) FROM served_cards").fetchone()[0])


def until(condition: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_cards_lost_to_kill_9_are_logged_at_the_next_start(tmp_path: Path) -> None:
    """Cards whose write a kill -9 cut short are logged, with their number, by the next process on the same state directory."""
    db, state = tmp_path / "feedback.sqlite3", tmp_path / "recorder-state"
    env = {"CDS_FEEDBACK_FLUSH_SECONDS": "0.1", "CDS_LOG_JSON": "true"}
    with running_service(tmp_path, **env) as service:
        written = serve_calls(service, 3)
        assert written > 0
        until(lambda: stored_cards(db) == written)
        lock = sqlite3.connect(db, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the next writes wait on the database
        try:
            waiting = serve_calls(service, 4)
            time.sleep(0.2)  # a flush interval on, the next call brings the totals on disk up to date
            waiting += serve_calls(service, 1)
            ledger = state / f"{service.process.pid}.json"
            until(lambda: ledger.is_file() and json.loads(ledger.read_text())["queued"] == written + waiting)
            service.process.kill()
            service.process.wait(timeout=10)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    with running_service(tmp_path, **env) as again:
        lines = [json.loads(line) for line in again.output().splitlines() if line.startswith("{")]
    reports = [line for line in lines if line.get("message") == "served cards lost in a crash"]
    assert [report["cards"] for report in reports] == [waiting]
    assert stored_cards(db) == written
