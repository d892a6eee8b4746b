"""Preview page, ``cds-service preview``, ``simulate`` and the hook routes give the same cards for every fixture request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cds_service.cli import app
from cds_service.content.loader import ContentSet
from cds_service.fixtures import REQUESTS, fixture_names, hook_request
from cds_service.preview.simulate import service_for, simulate

NAMES = fixture_names(REQUESTS)


def same(card: dict[str, Any]) -> tuple[Any, ...]:
    """What a clinician sees of a card, in order (uuids and the caller's base URL left out)."""
    suggestions = tuple((s["label"], tuple(a["description"] for a in s.get("actions") or [])) for s in card.get("suggestions") or [])
    return card["source"]["topic"]["code"], card["indicator"], card["summary"], card["detail"], suggestions


@pytest.fixture(scope="module")
def simulated(shared_client: TestClient) -> dict[str, list[tuple[Any, ...]]]:
    content: ContentSet = shared_client.app.state.content.current  # type: ignore[attr-defined]
    runs = simulate(content)
    assert all(run.error is None for run in runs), [run.error for run in runs]
    return {
        run.name: [same(r.card.to_wire()) for r in run.evaluation.results if r.card is not None and r.mode != "shadow"]
        for run in runs
        if run.evaluation is not None
    }


def test_every_fixture_has_cards_to_compare(simulated: dict[str, list[tuple[Any, ...]]]) -> None:
    """The comparison covers every fixture request, and most of them produce cards."""
    assert sorted(simulated) == NAMES
    assert sum(1 for cards in simulated.values() if cards) >= len(NAMES) - 3


@pytest.mark.parametrize("name", NAMES)
def test_preview_simulate_and_service_agree(name: str, shared_client: TestClient, simulated: dict[str, list[tuple[Any, ...]]]) -> None:
    """The service's response, the preview page and the terminal preview list exactly simulate's shown cards, in its order."""
    body = hook_request(name)
    served = shared_client.post(f"/cds-services/{service_for(body['hook']).id}", json=body)
    assert served.status_code == 200, served.text
    page = shared_client.post("/preview/api/evaluate", json={"requests": [name]})
    assert page.status_code == 200, page.text
    page_cards = [same(c) for c in page.json()["cards"] if c["mode"] != "shadow"]
    terminal = CliRunner().invoke(app, ["preview", "--order", name, "--format", "json"])
    assert terminal.exit_code == 0, terminal.output
    terminal_cards = [same(c["card"]) for c in json.loads(terminal.output)["cards"] if c["mode"] != "shadow"]
    assert [same(c) for c in served.json()["cards"]] == simulated[name] == page_cards == terminal_cards


def test_cards_come_most_severe_first(simulated: dict[str, list[tuple[Any, ...]]]) -> None:
    """Every path orders cards as the service does: critical, then warning, then info."""
    rank = {"critical": 0, "warning": 1, "info": 2}
    for cards in simulated.values():
        assert [rank[c[1]] for c in cards] == sorted(rank[c[1]] for c in cards)
