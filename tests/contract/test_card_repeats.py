"""Cards repeated by an EHR's repeated calls: counted once, not shown again at signing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cds_service.feedback import schema
from cds_service.feedback.report import build_report
from tests.conftest import app_settings, condition, hook_body, patient, running_app, service_order, topics

SELECT = "/cds-services/neck-pain-order-select"
SIGN = "/cds-services/neck-pain-order-sign"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A new app for this test, remembering the cards it showed for the default window."""
    with running_app(app_settings(tmp_path, card_repeat_window_seconds=600)) as test_client:
        yield test_client


def drafts() -> list[dict[str, Any]]:
    return [service_order("72141", "MRI cervical spine without contrast", oid="mri")]


def record() -> list[dict[str, Any]]:
    return [patient(45), condition("M54.2", "Cervicalgia", onset_days=7)]


def post(client: TestClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 200
    return dict(response.json())


def stored_rules(client: TestClient) -> list[str]:
    client.portal.call(client.app.state.feedback.recorder.flush)  # type: ignore[attr-defined,union-attr]
    with client.app.state.feedback.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return sorted(r.rule_id for r in conn.execute(select(schema.served_cards)))


def test_repeated_order_select_counts_each_card_once(client: TestClient) -> None:
    """Sixteen order-select calls for one unchanged order store each card once, and feedback on any copy counts against it."""
    bodies = [post(client, SELECT, hook_body(record(), drafts())) for _ in range(16)]
    first = {c["source"]["topic"]["code"]: c["uuid"] for c in bodies[0]["cards"]}
    for body in bodies[1:]:
        assert {c["source"]["topic"]["code"]: c["uuid"] for c in body["cards"]} == first  # shown again, same card
    assert stored_rules(client) == sorted(first)
    last = next(c for c in bodies[-1]["cards"] if c["source"]["topic"]["code"] == "imaging-without-red-flags")
    item = {"card": last["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-01-01T10:00:00Z",
            "overrideReason": {"reason": last["overrideReasons"][0]}}
    assert client.post(f"{SELECT}/feedback", json={"feedback": [item]}).status_code == 200
    stats = {s.rule_id: s for s in build_report(client.app.state.feedback.store.engine)}  # type: ignore[attr-defined]
    assert (stats["imaging-without-red-flags"].shown, stats["imaging-without-red-flags"].overridden) == (1, 1)


def test_order_sign_does_not_repeat_cards_shown_at_order_select(client: TestClient) -> None:
    """At order-sign the cards shown at order-select for the same drafts are not sent again; the rating still is."""
    shown = post(client, SELECT, hook_body(record(), drafts()))
    assert "imaging-without-red-flags" in topics(shown)
    signed = post(client, SIGN, hook_body(record(), drafts(), hook="order-sign"))
    assert signed["cards"] == []
    assert signed["systemActions"][0]["resource"]["id"] == "mri"


def test_order_sign_shows_cards_for_a_changed_order(client: TestClient) -> None:
    """A draft changed after order-select (another study) gets its cards at order-sign."""
    post(client, SELECT, hook_body(record(), drafts()))
    changed = copy.deepcopy(drafts())
    changed[0]["code"]["coding"][0].update(code="72125", display="CT cervical spine without contrast")
    signed = post(client, SIGN, hook_body(record(), changed, hook="order-sign"))
    assert "imaging-without-red-flags" in topics(signed)


def test_each_served_card_records_its_card_version(client: TestClient) -> None:
    """A served card's row carries the version of its card file."""
    body = post(client, SELECT, hook_body(record(), drafts()))
    client.portal.call(client.app.state.feedback.recorder.flush)  # type: ignore[attr-defined,union-attr]
    content = client.app.state.content.current  # type: ignore[attr-defined]
    with client.app.state.feedback.store.engine.connect() as conn:  # type: ignore[attr-defined]
        versions = {r.rule_id: r.card_version for r in conn.execute(select(schema.served_cards))}
    assert versions == {c["source"]["topic"]["code"]: content.rules[c["source"]["topic"]["code"]].content.version for c in body["cards"]}
    assert versions["imaging-without-red-flags"] == "1.1.0"
