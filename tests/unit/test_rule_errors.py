"""A rule that raises, or a card that fails to render, drops that card only: counted, visible, never a 500."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.content import outcome
from cds_service.content.loader import load_content
from cds_service.content.store import ContentStore
from cds_service.preview.samples import fails_on_samples
from cds_service.rules import REGISTRY
from cds_service.rules.base import RuleInput
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import condition, hook_body, patient, service_order, topics
from tests.unit.test_metrics import samples, value

URL = "/cds-services/neck-pain-order-select"
IMAGING = "imaging-without-red-flags"
PT = "physical-therapy-first"


def mri_request() -> dict[str, object]:
    """An early MRI with no red flag and no PT: the imaging and the PT cards both fire."""
    return hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")])


def test_both_cards_fire_without_faults(client: TestClient) -> None:
    """The request of these tests fires the imaging card and the PT card (the baseline)."""
    assert {IMAGING, PT} <= set(topics(client.post(URL, json=mri_request()).json()))


def test_a_rule_that_raises_drops_its_card_only_and_is_counted(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failing rule's card is missing, the others are sent (200), the error is counted and /readyz says degraded."""

    def broken(data: RuleInput) -> None:
        raise KeyError("older_age")

    monkeypatch.setitem(REGISTRY, IMAGING, dataclasses.replace(REGISTRY[IMAGING], fn=broken))
    response = client.post(URL, json=mri_request())
    assert response.status_code == 200
    fired = topics(response.json())
    assert IMAGING not in fired and PT in fired
    assert value(samples(client), "cds_rule_errors_total", rule_id=IMAGING) == 1
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded" and ready.json()["degraded"]["rule_errors"] == {IMAGING: 1}


def test_a_card_that_fails_to_render_is_dropped_and_counted(client: TestClient, tmp_path: Path) -> None:
    """Content whose template fails only when rendered costs that one card, never the response."""
    cards = Path(shutil.copytree(BUNDLED_CONTENT_DIR, tmp_path / "cards"))
    path = cards / f"{PT}.yaml"
    text = path.read_text()
    path.write_text(text.replace('summary: "Start physical therapy', 'summary: "{{ params.no_such_param }} Start physical therapy', 1))
    client.app.state.content.current = load_content(cards)  # type: ignore[attr-defined]  # past the reload checks
    response = client.post(URL, json=mri_request())
    assert response.status_code == 200
    fired = topics(response.json())
    assert PT not in fired and IMAGING in fired
    assert value(samples(client), "cds_rule_errors_total", rule_id=PT) == 1
    assert client.get("/readyz").json()["degraded"]["rule_errors"] == {PT: 1}


def test_readiness_is_plain_ready_without_errors(client: TestClient) -> None:
    """With no dropped card and no rejected reload, /readyz says ready and has no degraded detail."""
    client.post(URL, json=mri_request())
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and "degraded" not in body


def test_a_card_that_fails_only_on_the_requests_data_leaves_readiness_alone(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A card whose content renders on its sample data but not on one request's data is dropped and counted in the
    metric, yet /readyz stays ready: any caller could send such data."""
    real = outcome.render_card

    def fails_on_odd_data(content: Any, finding: Any, *args: Any, **kwargs: Any) -> Any:
        if finding.rule_id == IMAGING and any("Quagmire" in o.display for o in finding.orders):
            raise ValueError("resourceId does not match the pattern")
        return real(content, finding, *args, **kwargs)

    monkeypatch.setattr(outcome, "render_card", fails_on_odd_data)
    body = hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI Quagmire")])
    fired = topics(client.post(URL, json=body).json())
    assert IMAGING not in fired and PT in fired
    assert value(samples(client), "cds_rule_errors_total", rule_id=IMAGING) == 1
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and "degraded" not in ready


def test_whether_the_content_is_at_fault_is_asked_once_per_content_version_and_rule() -> None:
    """The sample check runs once per content version and rule; a card that renders on samples is not counted, a rule that raised is."""
    asked: list[str] = []

    def confirm(content: Any, rule_id: str) -> bool:
        asked.append(rule_id)
        return rule_id == PT

    store = ContentStore(BUNDLED_CONTENT_DIR, confirm=confirm)
    for _ in range(3):
        store.note_rule_errors({"opioid-first-line": "KeyError: x"}, [IMAGING, PT])
    assert asked == [IMAGING, PT]
    assert store.rule_errors == {"opioid-first-line": 3, PT: 3}


def test_sample_check_tells_a_broken_template_from_a_sound_one(tmp_path: Path) -> None:
    """``fails_on_samples``: the bundled PT card renders on sample data; one reading an undefined param does not."""
    assert not fails_on_samples(load_content(BUNDLED_CONTENT_DIR), PT)
    cards = Path(shutil.copytree(BUNDLED_CONTENT_DIR, tmp_path / "cards"))
    path = cards / f"{PT}.yaml"
    path.write_text(
        path.read_text().replace('summary: "Start physical therapy', 'summary: "{{ params.no_such_param }} Start physical therapy', 1)
    )
    assert fails_on_samples(load_content(cards), PT)
