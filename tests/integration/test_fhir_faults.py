"""FHIR-server faults in the prefetch fallback, injected into the real local FHIR server.

The vignette patient ``v9-neck-strain`` lives on the server; the request (a cervical MRI and bed
rest, no prefetch) makes the service fetch the whole record. Healthy, it answers with the
``bed-rest`` and ``imaging-without-red-flags`` cards. Under each fault the service must answer
within its deadline plus a small margin, keep the cards whose data it has (``bed-rest`` needs
none), drop the imaging card whose red-flag data it could not read, answer 412 when the Patient
itself cannot be read, and never send the Bearer token to another host. With orders that only the
neck-pain Condition puts in scope, Conditions that cannot be read are a 412, and a Condition page
read before a failing ``next`` page, or in a search that reports an error or stops short of its
``total``, keeps the call in scope.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_service.commands.load_fixtures import load_fixtures
from cds_service.fixtures import hook_request
from tests.conftest import LOCAL_FHIR_HOSTS, app_settings, bearer_authorization, running_app, topics
from tests.contract.invariants import assert_response_invariants
from tests.contract.test_uncertain_record import metric
from tests.integration.conftest import FhirServerAdmin, _require, running_fhir_server

pytestmark = pytest.mark.integration

PATIENT = "v9-neck-strain"
REQUEST = "v9b-bed-rest-and-mri"
URL = "/cds-services/neck-pain-order-select"
TOKEN = "fault-test-access-token-7d1c"
DEADLINE = 1.5
MARGIN = 1.0  # answer within DEADLINE + MARGIN seconds, however the server misbehaves
MAX_PAGES = 4
MAX_BYTES = 300_000
HEALTHY = {"bed-rest": "warning", "imaging-without-red-flags": "warning"}
WITHOUT_IMAGING = {"bed-rest": "warning"}


@pytest.fixture(scope="module")
def loaded(fhir_server: str) -> list[str]:
    """The vignette patient, PUT into the FHIR server."""
    return asyncio.run(load_fixtures(fhir_server, names=[PATIENT]))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app in-process with a short fallback deadline and tight paging and size limits."""
    settings = app_settings(
        tmp_path_factory.mktemp("faults"),
        prefetch_deadline_seconds=DEADLINE,
        fhir_max_pages=MAX_PAGES,
        fhir_max_response_bytes=MAX_BYTES,
        fhir_allowed_hosts=LOCAL_FHIR_HOSTS,
    )
    with running_app(settings) as client:
        yield client


@pytest.fixture(scope="module")
def other_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServerAdmin]:
    """A second FHIR server on another port: the "other host" redirects and next links point to."""
    with running_fhir_server(_require("node"), tmp_path_factory.mktemp("other-host") / "server.log") as root:
        yield FhirServerAdmin(f"{root}/fhir")


def call(client: TestClient, fhir_server: str) -> tuple[httpx.Response, float]:
    """The MRI + bed-rest request with no prefetch, so every key is fetched; (response, seconds)."""
    body: dict[str, Any] = hook_request(REQUEST, with_prefetch=False)
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = bearer_authorization(TOKEN)
    started = time.monotonic()
    response = client.post(URL, json=body)
    return response, time.monotonic() - started


def cards_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert_response_invariants(body)
    return topics(body)


def test_healthy_server_gives_every_card(service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin) -> None:
    """Without faults every key is fetched with the token and both cards are shown."""
    response, seconds = call(service, fhir_server)
    assert cards_of(response) == HEALTHY and seconds < DEADLINE + MARGIN
    seen = fhir_admin.requests()
    assert len(seen) >= 8 and all(r["authorization"] == f"Bearer {TOKEN}" for r in seen)


FAULTS = {
    "slow-observations": {"match": {"path": "^Observation"}, "delayMs": 5000},
    "timeout-conditions": {"match": {"path": "^Condition"}, "delayMs": 30000},
    "5xx-procedures": {"match": {"path": "^Procedure"}, "status": 503},
    "401-medications": {"match": {"path": "^MedicationRequest"}, "status": 401},
    "403-statements": {"match": {"path": "^MedicationStatement"}, "status": 403},
    "malformed-observations": {"match": {"path": "^Observation"}, "malformed": True},
    "wrong-type-conditions": {"match": {"path": "^Condition"}, "wrongResourceType": True},
    "dropped-service-requests": {"match": {"path": "^ServiceRequest"}, "dropConnection": True},
    "endless-condition-pages": {"match": {"path": "^Condition"}, "endlessPages": True},
    "oversized-conditions": {"match": {"path": "^Condition"}, "oversizedBytes": 2_000_000},
    "error-outcome-conditions": {"match": {"path": "^Condition"}, "outcomeSeverity": "error"},
    "fatal-outcome-observations": {"match": {"path": "^Observation"}, "outcomeSeverity": "fatal"},
    "short-total-conditions": {"match": {"path": "^Condition"}, "totalExtra": 3},
}


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_fault_in_red_flag_data_drops_only_the_imaging_card(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin, fault: dict[str, Any]
) -> None:
    """Red-flag data that cannot be read in time silences the imaging card; the bed-rest card stays; the answer is prompt."""
    fhir_admin.add_fault(**fault)
    response, seconds = call(service, fhir_server)
    assert seconds < DEADLINE + MARGIN, f"answered after {seconds:.2f} s"
    assert cards_of(response) == WITHOUT_IMAGING


@pytest.mark.parametrize("severity", ["warning", "information"])
def test_warning_outcome_in_a_search_keeps_every_card(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin, severity: str
) -> None:
    """A search Bundle carrying an OperationOutcome with only a warning or information issue is read whole."""
    fhir_admin.add_fault(match={"path": "^(Condition|Observation)"}, outcomeSeverity=severity)
    assert cards_of(call(service, fhir_server)[0]) == HEALTHY


def test_endless_pages_stop_at_the_page_limit(service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin) -> None:
    """A server whose Bundles always have a next page is read for at most the configured pages."""
    fhir_admin.add_fault(match={"path": "^Condition"}, endlessPages=True)
    cards_of(call(service, fhir_server)[0])
    condition_calls = [r for r in fhir_admin.requests() if r["path"].startswith("/fhir/Condition")]
    assert 1 <= len(condition_calls) <= MAX_PAGES


def test_every_key_slow_gives_412_within_the_deadline(service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin) -> None:
    """When nothing, not even the Patient, arrives before the deadline the answer is a prompt 412."""
    fhir_admin.add_fault(delayMs=10_000)
    response, seconds = call(service, fhir_server)
    assert response.status_code == 412 and response.json()["resourceType"] == "OperationOutcome"
    assert seconds < DEADLINE + MARGIN


@pytest.mark.parametrize(
    "fault",
    [{"status": 404}, {"status": 500}, {"status": 401}, {"malformed": True}, {"wrongResourceType": True}, {"dropConnection": True}],
    ids=["404", "500", "401", "malformed", "wrong-type", "dropped"],
)
def test_patient_unreadable_is_412(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin, fault: dict[str, Any]
) -> None:
    """A Patient read that fails in any way is a 412 OperationOutcome, never a 500 or cards."""
    fhir_admin.add_fault(match={"path": "^Patient/"}, **fault)
    response, seconds = call(service, fhir_server)
    assert response.status_code == 412, response.text
    assert "Patient" in response.json()["issue"][0]["diagnostics"] and seconds < DEADLINE + MARGIN


def test_redirect_to_another_host_is_not_followed(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin, other_host: FhirServerAdmin
) -> None:
    """A 302 to another host is not followed: the other host sees no request, so never the token."""
    other_host.clear_requests()
    fhir_admin.add_fault(match={"path": "^Observation"}, redirectTo=other_host.root)
    response, _ = call(service, fhir_server)
    assert cards_of(response) == WITHOUT_IMAGING
    assert other_host.requests() == []
    observation_calls = [r for r in fhir_admin.requests() if r["path"].startswith("/fhir/Observation")]
    assert len(observation_calls) == 1 and observation_calls[0]["fault"] is not None


def test_next_link_to_another_host_is_not_followed(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin, other_host: FhirServerAdmin
) -> None:
    """A Bundle next link to another origin is refused: the token stays on the fhirServer, the data counts as missing."""
    other_host.clear_requests()
    fhir_admin.add_fault(match={"path": "^Condition"}, nextLinkOrigin=other_host.root, endlessPages=True)
    response, _ = call(service, fhir_server)
    assert cards_of(response) == WITHOUT_IMAGING
    assert other_host.requests() == []


def test_fault_that_clears_after_one_call_is_not_retried(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin
) -> None:
    """A transient 503 costs that call's data (no retry storms), and the next call is whole again."""
    fhir_admin.add_fault(match={"path": "^Observation"}, status=503, times=1)
    assert cards_of(call(service, fhir_server)[0]) == WITHOUT_IMAGING
    assert cards_of(call(service, fhir_server)[0]) == HEALTHY


# ------------------------------------------------------------------------------ the scope's data


def relaxant_only_call(client: TestClient, fhir_server: str) -> httpx.Response:
    """Only the cyclobenzaprine and ibuprofen orders, without their reasons: in scope only by the neck-pain Condition."""
    body: dict[str, Any] = hook_request(REQUEST, with_prefetch=False)
    kept = ("v9b-order-cyclobenzaprine", "v9b-order-ibuprofen")
    entries = [e for e in body["context"]["draftOrders"]["entry"] if e["resource"]["id"] in kept]
    for entry in entries:
        entry["resource"].pop("reasonCode", None)
        entry["resource"].pop("reasonReference", None)
    body["context"]["draftOrders"]["entry"] = entries
    body["context"]["selections"] = [f"MedicationRequest/{oid}" for oid in kept]
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = bearer_authorization(TOKEN)
    return client.post(URL, json=body)


def test_conditions_unreadable_for_non_spine_orders_is_412(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin
) -> None:
    """Conditions failing (503) when only they could put the orders in scope: 412 naming conditions and the reason."""
    healthy = relaxant_only_call(service, fhir_server)
    assert healthy.status_code == 200 and healthy.json()["cards"]
    fhir_admin.add_fault(match={"path": "^Condition"}, status=503)
    response = relaxant_only_call(service, fhir_server)
    assert response.status_code == 412, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["prefetch.conditions"] and "(server-error)" in issue["diagnostics"]


def test_failing_next_page_keeps_the_first(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin
) -> None:
    """Condition page one read, page two failing: page one's neck-pain Condition keeps the call in scope (no 412),
    and the cards needing every Condition (physical-therapy-first) are silent."""
    healthy = cards_of(relaxant_only_call(service, fhir_server))
    assert "physical-therapy-first" in healthy
    fhir_admin.clear_requests()
    fhir_admin.add_fault(match={"path": "^Condition"}, endlessPages=True, times=1)  # page one, with a next link
    fhir_admin.add_fault(match={"path": "^Condition"}, status=500)  # page two
    partial = cards_of(relaxant_only_call(service, fhir_server))
    condition_calls = [r for r in fhir_admin.requests() if r["path"].startswith("/fhir/Condition")]
    assert len(condition_calls) == 2
    assert "physical-therapy-first" not in partial and set(partial) < set(healthy)


@pytest.mark.parametrize(("fault", "reason"), [({"outcomeSeverity": "error"}, "search-error"), ({"totalExtra": 2}, "incomplete")])
def test_condition_search_not_whole_keeps_its_matches(
    service: TestClient, fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin, fault: dict[str, Any], reason: str
) -> None:
    """A Condition search that reports an error or stops short of its total: counted by its reason, its neck-pain
    Condition keeps the call in scope (no 412), the cards needing every Condition (physical-therapy-first) are silent."""
    healthy = cards_of(relaxant_only_call(service, fhir_server))
    assert "physical-therapy-first" in healthy
    before = metric(service, "cds_prefetch_unavailable_total", key="conditions", reason=reason)
    fhir_admin.add_fault(match={"path": "^Condition"}, **fault)
    partial = cards_of(relaxant_only_call(service, fhir_server))
    assert "physical-therapy-first" not in partial and set(partial) < set(healthy)
    assert metric(service, "cds_prefetch_unavailable_total", key="conditions", reason=reason) == before + 1
