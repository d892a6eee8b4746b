"""Vignettes against a real FHIR server: with no prefetch the service fetches the record itself.

The vignette patients are loaded into the in-memory FHIR server with ``load_fixtures``; each
hook request is then sent twice to the app in-process — once with the fixture prefetch, once
with no prefetch and ``fhirServer`` pointing at the server — and both must give the same cards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.commands.load_fixtures import load_fixtures
from cds_service.fixtures import FIXTURES_DIR, PATIENTS, fixture_names, hook_request, load_request
from cds_service.protocol.services import PREFETCH
from tests.conftest import LOCAL_FHIR_HOSTS, app_settings, bearer_authorization, running_app, topics
from tests.contract.invariants import assert_response_invariants
from tests.integration.conftest import FhirServerAdmin
from tests.vignettes.cases import SERVICE_FOR_HOOK, VIGNETTES

pytestmark = pytest.mark.integration

REQUESTS = sorted(VIGNETTES)
MUST_COVER = {"v1-order-sign", "v4-order-sign", "v9a-conservative-care"}


@pytest.fixture(scope="module")
def loaded(fhir_server: str) -> list[str]:
    """Every vignette patient, PUT into the FHIR server with its dates made current."""
    return asyncio.run(load_fixtures(fhir_server, names=fixture_names(PATIENTS), root=FIXTURES_DIR))


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app in-process; its FHIR client really calls the local server."""
    with running_app(app_settings(tmp_path_factory.mktemp("feedback"), prefetch_deadline_seconds=10.0, fhir_allowed_hosts=LOCAL_FHIR_HOSTS)) as client:
        yield client


def post(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert_response_invariants(result)
    return result


def resource_type(path: str) -> str:
    """The resource type a logged FHIR request path (``/fhir/Type/id`` or ``/fhir/Type?…``) asks for."""
    return path.split("?", 1)[0].removeprefix("/").removeprefix("fhir/").split("/")[0]


def comparable(card: dict[str, Any]) -> dict[str, Any]:
    """What must match between the two calls: everything but generated uuids and resource ids."""
    return {
        "rule": card["source"]["topic"]["code"],
        "indicator": card["indicator"],
        "summary": card["summary"],
        "detail": card["detail"],
        "suggestions": [
            (s["label"], [(a["type"], a.get("resourceId"), a.get("resource", {}).get("code")) for a in s["actions"]])
            for s in card.get("suggestions", [])
        ],
    }


def test_the_required_vignettes_are_covered() -> None:
    """Vignettes 1, 4 and 9a are among the requests replayed against the FHIR server."""
    assert MUST_COVER <= set(REQUESTS)


@pytest.mark.parametrize("name", REQUESTS)
def test_fetched_record_gives_the_prefetch_cards(
    name: str, fhir_server: str, loaded: list[str], app_client: TestClient, fhir_admin: FhirServerAdmin
) -> None:
    """With no prefetch and fhirServer set, the service fetches every key itself and shows the same cards."""
    patient_id = load_request(name)["fixturePatient"]
    assert f"Patient/{patient_id}" in loaded
    with_prefetch = post(app_client, hook_request(name))

    fhir_admin.clear_requests()
    body = hook_request(name, with_prefetch=False)
    assert "prefetch" not in body
    body["fhirServer"], body["fhirAuthorization"] = fhir_server, bearer_authorization("vignette-token")
    fetched = post(app_client, body)

    queried = {resource_type(r["path"]) for r in fhir_admin.requests()}
    assert {q.template.split("?")[0].split("/")[0] for q in PREFETCH} <= queried
    assert topics(fetched) == topics(with_prefetch)
    assert sorted(map(comparable, fetched["cards"]), key=lambda c: c["rule"]) == sorted(
        map(comparable, with_prefetch["cards"]), key=lambda c: c["rule"]
    )
    if VIGNETTES[name].expected:
        assert fetched["cards"], "the fetched record produced cards"
