"""Acceptance: each clinical vignette's order set gets exactly the cards vignettes.md expects."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.fixtures import REQUESTS, expected_outcome, fixture_names, hook_request
from tests.conftest import topics
from tests.contract.invariants import assert_response_invariants
from tests.vignettes.cases import DETAILS, SERVICE_FOR_HOOK, VIGNETTES, Vignette
from tests.vignettes.recode import medication_concept

NAMES = sorted(VIGNETTES)


def call(client: TestClient, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request sent, response JSON) for a fixture hook request posted to its hook's service."""
    body = hook_request(name)
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.text
    return body, response.json()


def cards_by_rule(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {card["source"]["topic"]["code"]: card for card in body["cards"]}


def order_displays(request: dict[str, Any]) -> dict[str, str]:
    """Draft order reference → the display the service shows for it (the concept's text)."""
    out = {}
    for entry in request["context"]["draftOrders"]["entry"]:
        order = entry["resource"]
        concept = medication_concept(order) if order["resourceType"] == "MedicationRequest" else order["code"]
        out[f"{order['resourceType']}/{order['id']}"] = concept["text"]
    return out


def normalized(text: str) -> str:
    return text.lower().replace("-", " ")


def test_every_request_fixture_states_its_expected_cards() -> None:
    """Every hook request under fhir_fixtures/requests states its expected cards, and every case's details name a fixture."""
    assert all(expected_outcome(name) is not None for name in fixture_names(REQUESTS))
    assert set(DETAILS) <= set(NAMES) and fixture_names(REQUESTS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_exact_cards_and_indicators(shared_client: TestClient, name: str) -> None:
    """The vignette's order set fires exactly the expected rule ids, each with its expected indicator."""
    case: Vignette = VIGNETTES[name]
    _, body = call(shared_client, name)
    fired = topics(body)
    assert len(fired) == len(body["cards"]), "one card per rule per request"
    assert not set(case.must_not_fire) & set(fired), f"must not fire: {sorted(set(case.must_not_fire) & set(fired))}"
    assert set(fired) == set(case.expected), (
        f"missing {sorted(set(case.expected) - set(fired))}, unexpected {sorted(set(fired) - set(case.expected))}"
    )
    assert fired == case.expected


@pytest.mark.parametrize("name", NAMES)
def test_response_invariants(shared_client: TestClient, name: str) -> None:
    """Every vignette response obeys the CDS Hooks and traceability invariants."""
    _, body = call(shared_client, name)
    assert_response_invariants(body)


def concept_texts(request: dict[str, Any]) -> set[str]:
    """The text of every coded draft order and prefetched record entry (each equals its coding's display)."""
    texts = set(order_displays(request).values())
    for value in request["prefetch"].values():
        for entry in (value or {}).get("entry", []):
            resource = entry["resource"]
            is_medication = resource["resourceType"] in ("MedicationRequest", "MedicationStatement")
            concept = medication_concept(resource) if is_medication else resource.get("code") or {}
            if concept.get("text"):
                texts.add(concept["text"])
    return texts


@pytest.mark.parametrize("name", NAMES)
def test_cards_name_things_once(shared_client: TestClient, name: str) -> None:
    """An order or record entry whose text equals its coding's display is named once, not "X X"."""
    request, body = call(shared_client, name)
    for card in body["cards"]:
        for display in concept_texts(request):
            doubled = f"{display} {display}"
            assert doubled not in card["summary"] and doubled not in card["detail"], (
                f"{card['source']['topic']['code']} names {display!r} twice"
            )


@pytest.mark.parametrize("name", NAMES)
def test_cards_cite_their_evidence(shared_client: TestClient, name: str) -> None:
    """Each expected card's detail cites the FHIR references of the patient facts that triggered it."""
    case = VIGNETTES[name]
    request, body = call(shared_client, name)
    cards = cards_by_rule(body)
    displays = order_displays(request)
    for card in body["cards"]:
        assert any(d in card["detail"] for d in displays.values()), "the detail names a draft order"
    for rule_id, refs in case.evidence.items():
        assert rule_id in cards, f"{rule_id} did not fire"
        missing = [ref for ref in refs if ref not in cards[rule_id]["detail"]]
        assert not missing, f"{rule_id} detail does not cite {missing}"
    for rule_id, groups in case.mentions.items():
        assert rule_id in cards, f"{rule_id} did not fire"
        text = normalized(cards[rule_id]["summary"] + " " + cards[rule_id]["detail"])
        for words in groups:
            assert any(normalized(w) in text for w in words), f"{rule_id} mentions none of {words}"
    for rule_id, refs in case.orders.items():
        assert rule_id in cards, f"{rule_id} did not fire"
        for ref in refs:
            assert displays[ref] in cards[rule_id]["detail"], f"{rule_id} does not list {ref}"


@pytest.mark.parametrize("name", NAMES)
def test_most_severe_cards_come_first(shared_client: TestClient, name: str) -> None:
    """Cards are ordered critical, then warning, then info, as an EHR lists them top-down."""
    _, body = call(shared_client, name)
    ranks = [{"critical": 0, "warning": 1, "info": 2}[card["indicator"]] for card in body["cards"]]
    assert ranks == sorted(ranks)
