"""Per-call configuration options (Da Vinci CRD style): advertised at discovery, optional, unknown ones ignored."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import condition, hook_body, patient, service_order

URL = "/cds-services/neck-pain-order-select"


def mri_call(**configuration: Any) -> dict[str, Any]:
    """Early neck pain and a cervical MRI: a warning card, an info card (PT first) and a rating."""
    body = hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")])
    if configuration:
        body["extension"] = {"davinci-crd.configuration": configuration}
    return body


def indicators(body: dict[str, Any]) -> set[str]:
    return {c["indicator"] for c in body["cards"]}


def test_discovery_advertises_the_options(shared_client: TestClient) -> None:
    """Every service lists its options with code, type, name, description and default."""
    for service in shared_client.get("/cds-services").json()["services"]:
        options = {o["code"]: o for o in service["extension"]["davinci-crd.configuration-options"]}
        assert set(options) == {"info-cards", "ratings"}
        for option in options.values():
            assert option["type"] == "boolean" and option["default"] is True and option["name"] and option["description"]


def test_no_option_is_required(shared_client: TestClient) -> None:
    """Without configuration the call answers info and warning cards and the rating."""
    body = shared_client.post(URL, json=mri_call()).json()
    assert indicators(body) == {"info", "warning"} and body["systemActions"]


def test_info_cards_can_be_switched_off(shared_client: TestClient) -> None:
    """info-cards false drops the info cards, keeps the warning card and the rating."""
    body = shared_client.post(URL, json=mri_call(**{"info-cards": False})).json()
    assert indicators(body) == {"warning"} and body["systemActions"]


def test_ratings_can_be_switched_off(shared_client: TestClient) -> None:
    """ratings false sends no system actions; the cards are unchanged."""
    body = shared_client.post(URL, json=mri_call(ratings=False)).json()
    assert "systemActions" not in body and "extension" not in body
    assert indicators(body) == {"info", "warning"}


def test_unknown_options_are_ignored(shared_client: TestClient) -> None:
    """An option the service does not offer changes nothing."""
    response = shared_client.post(URL, json=mri_call(**{"coverage-information": True}))
    assert response.status_code == 200 and indicators(response.json()) == {"info", "warning"}


def test_a_wrongly_typed_option_is_a_400_naming_it(shared_client: TestClient) -> None:
    """info-cards given as a string is refused with an OperationOutcome naming the option."""
    response = shared_client.post(URL, json=mri_call(**{"info-cards": "no"}))
    assert response.status_code == 400
    assert "info-cards" in response.text
