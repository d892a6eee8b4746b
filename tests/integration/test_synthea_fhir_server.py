"""Real records in a real FHIR server: with no prefetch the service fetches each Synthea record itself.

Each of the 119 records (tests/data/realworld/synthea), with the SNOMED CT neck-pain Condition added,
is PUT into an in-memory FHIR server of this module's own, beside one other patient's record (so the
``patient`` search parameter has something to exclude). Then an order-sign of cyclobenzaprine,
ibuprofen and oxycodone (no spine order, so the service speaks only if it finds the neck pain in the
record) is sent twice to the app in-process: with the prefetch an EHR fills from the discovery templates, and with no prefetch,
``fhirServer`` and a Bearer ``fhirAuthorization``. Both must show the same rule ids and indicators.

The server holds two records at a time: its in-memory search scans every resource of a type, so
with all 119 records (about 18,000 resources) loaded one Observation search takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from cds_service.commands.load_fixtures import transaction_bundle
from tests.conftest import LOCAL_FHIR_HOSTS, app_settings, bearer_authorization, running_app, topics
from tests.contract.invariants import assert_response_invariants
from tests.ehr import prefetch_from_templates
from tests.integration.conftest import FhirServerAdmin, fhir_server_process
from tests.realworld.records import SCENARIOS, Record, hook_body, load_records, scenario_resources

pytestmark = pytest.mark.integration

RECORDS = load_records()
SCENARIO = next(s for s in SCENARIOS if s.neck_pain == "snomed" and s.orders == "medications")
TOKEN = "synthea-integration-token"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def record_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own FHIR server (the shared one stays small for the other tests); its base URL."""
    with fhir_server_process(tmp_path_factory.mktemp("synthea-fhir") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app in-process, its FHIR client calling the local server; deadline and pages sized for large records."""
    settings = app_settings(
        tmp_path_factory.mktemp("synthea"), prefetch_deadline_seconds=30.0, fhir_max_pages=100, fhir_allowed_hosts=LOCAL_FHIR_HOSTS
    )
    with running_app(settings) as client:
        yield client


@pytest.fixture(scope="module")
def templates(app_client: TestClient) -> dict[str, str]:
    services = app_client.get("/cds-services").json()["services"]
    return next(s["prefetch"] for s in services if s["id"] == SCENARIO.service)


def load_alone(base: str, *records: Record) -> None:
    """Empty the server, then PUT each record (with its neck-pain Condition) as one batch."""
    root = base.removesuffix("/fhir")
    with httpx.Client(timeout=60.0) as http:
        http.post(f"{root}/__reset").raise_for_status()
        for record in records:
            # A batch, not a transaction: the server caps the updates of one transaction.
            bundle = {**transaction_bundle(scenario_resources(record, SCENARIO)), "type": "batch"}
            response = http.post(base, content=orjson.dumps(bundle), headers=FHIR_JSON)
            assert response.status_code == 200, f"{record.name}: {response.text[:300]}"
            statuses = [e["response"]["status"] for e in response.json()["entry"]]
            assert all(s.startswith("2") for s in statuses), f"{record.name}: {statuses}"


def post(client: TestClient, body: dict[str, Any]) -> dict[str, str]:
    """The rule id → indicator of a 200, well-formed answer."""
    response = client.post(f"/cds-services/{SCENARIO.service}", json=body)
    assert response.status_code == 200, response.text[:500]
    answer: dict[str, Any] = response.json()
    assert_response_invariants(answer)
    return topics(answer)


def test_a_loaded_record_reads_back(record_server: str) -> None:
    """A loaded record's Patient and its neck-pain Condition are served, and the other patient's are not mixed in."""
    first, second = RECORDS[0], RECORDS[1]
    load_alone(record_server, first, second)
    with httpx.Client() as http:
        assert http.get(f"{record_server}/Patient/{first.patient_id}").status_code == 200
        neck_pain = {"patient": first.patient_id, "code": "http://snomed.info/sct|81680005"}
        found = http.get(f"{record_server}/Condition", params=neck_pain).json()
        assert found["total"] == 1
        conditions = http.get(f"{record_server}/Condition", params={"patient": first.patient_id, "_count": 500}).json()
    expected = sum(1 for r in scenario_resources(first, SCENARIO) if r["resourceType"] == "Condition")
    assert conditions["total"] == expected


@pytest.mark.parametrize("index", range(len(RECORDS)), ids=[r.name.rsplit("_", 1)[0] for r in RECORDS])
def test_fetched_record_gives_the_prefetch_cards(
    index: int, record_server: str, app_client: TestClient, templates: dict[str, str]
) -> None:
    """With no prefetch and fhirServer set, the order set gets the rule ids and indicators the prefetch gave."""
    record = RECORDS[index]
    load_alone(record_server, record, RECORDS[index - 1])
    with_prefetch = hook_body(record, SCENARIO)
    with_prefetch["prefetch"] = prefetch_from_templates(templates, record.patient_id, scenario_resources(record, SCENARIO))
    expected = post(app_client, with_prefetch)

    admin = FhirServerAdmin(record_server)
    admin.clear_requests()
    fetched = hook_body(record, SCENARIO)
    fetched["fhirServer"] = record_server
    fetched["fhirAuthorization"] = bearer_authorization(TOKEN)
    answered = post(app_client, fetched)
    seen = admin.requests()
    assert {r["path"].split("?")[0].removeprefix("/fhir/").split("/")[0] for r in seen} >= {
        t.split("?")[0].split("/")[0] for t in templates.values()
    }
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in seen)
    assert answered == expected, f"fetched {answered}, with prefetch {expected}"
