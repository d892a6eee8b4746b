"""Against the real FHIR server: Medications that records and draft orders reference are read from it.

A patient whose MedicationStatement names oxycodone by ``medicationReference`` is PUT into the
in-memory FHIR server with its Medications; the app, given only ``fhirServer``, fetches the record,
reads the referenced Medications (``Medication/<id>``) and answers with the cards their drugs call for.
The server ignores ``_include``, so the Medications come only from those reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_service.commands.load_fixtures import transaction_bundle
from tests.conftest import LOCAL_FHIR_HOSTS, app_settings, bearer_authorization, condition, medication_order, patient, running_app, topics
from tests.contract.invariants import assert_response_invariants
from tests.integration.conftest import FhirServerAdmin
from tests.unit.test_medication_references import DIAZEPAM, OXYCODONE, by_reference, medication, statement

pytestmark = pytest.mark.integration

PATIENT_ID = "medref-patient"
TOKEN = "medref-integration-token"
SIGN_URL = "/cds-services/neck-pain-order-sign"


def for_patient(resource: dict[str, Any]) -> dict[str, Any]:
    if "subject" in resource:
        resource["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    return resource


@pytest.fixture(scope="module")
def loaded(fhir_server: str) -> None:
    """The patient (70, neck pain, on oxycodone by reference) and the Medications, PUT into the server."""
    resources = [
        {**patient(70), "id": PATIENT_ID},
        for_patient(condition("M54.2", "Cervicalgia", onset_days=10, cid=f"{PATIENT_ID}-pain")),
        for_patient(statement(f"{PATIENT_ID}-oxy", "Medication/medref-oxy")),
        medication("medref-oxy", OXYCODONE),
        medication("medref-dzp", DIAZEPAM),
    ]
    response = httpx.post(fhir_server, json=transaction_bundle(resources), headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app in-process; its FHIR client really calls the local server."""
    with running_app(app_settings(tmp_path_factory.mktemp("feedback"), prefetch_deadline_seconds=10.0, fhir_allowed_hosts=LOCAL_FHIR_HOSTS)) as client:
        yield client


def sign(client: TestClient, fhir_server: str, order: dict[str, Any]) -> dict[str, Any]:
    body = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "fhirAuthorization": bearer_authorization(TOKEN),
        "context": {
            "userId": "Practitioner/dr-1",
            "patientId": PATIENT_ID,
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": for_patient(order)}]},
        },
    }
    response = client.post(SIGN_URL, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert_response_invariants(result)
    return result


def medication_reads(admin: FhirServerAdmin) -> list[dict[str, Any]]:
    return [r for r in admin.requests() if r["path"].split("?")[0].removeprefix("/fhir/").startswith("Medication/")]


def test_record_and_draft_medications_are_read_from_the_server(
    fhir_server: str, loaded: None, app_client: TestClient, fhir_admin: FhirServerAdmin
) -> None:
    """The record's oxycodone and the draft's diazepam, both by reference, are read: the benzodiazepine card is critical."""
    order = by_reference(medication_order("197591", "x", "medref-order"), "Medication/medref-dzp")
    body = sign(app_client, fhir_server, order)
    assert topics(body)["benzodiazepine-for-spasm"] == "critical"
    reads = medication_reads(fhir_admin)
    assert sorted(r["path"].split("?")[0] for r in reads) == ["/fhir/Medication/medref-dzp", "/fhir/Medication/medref-oxy"]
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in reads)


def test_a_medication_the_server_lacks_stays_unresolved(
    fhir_server: str, loaded: None, app_client: TestClient, fhir_admin: FhirServerAdmin
) -> None:
    """A draft referencing a Medication the server does not have (404) gets an answer, and no diazepam card."""
    order = by_reference(medication_order("197591", "x", "medref-order"), "Medication/medref-missing")
    body = sign(app_client, fhir_server, order)
    assert "benzodiazepine-for-spasm" not in topics(body)
    assert "/fhir/Medication/medref-missing" in [r["path"].split("?")[0] for r in medication_reads(fhir_admin)]
