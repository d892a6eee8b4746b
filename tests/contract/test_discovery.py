"""Discovery: generated from the service declarations."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cds_service.protocol.services import SERVICES
from tests.contract.invariants import assert_no_empty_values

EXPECTED_KEYS = {
    "patient",
    "conditions",
    "procedures",
    "medicationRequests",
    "medicationStatements",
    "observations",
    "serviceRequests",
}


def test_discovery_lists_both_order_services(shared_client: TestClient) -> None:
    """GET /cds-services lists the order-select and order-sign services with their hooks."""
    response = shared_client.get("/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.json()["services"]}
    assert services["neck-pain-order-select"]["hook"] == "order-select"
    assert services["neck-pain-order-sign"]["hook"] == "order-sign"
    assert all(s["description"] and s["title"] for s in services.values())


def test_discovery_matches_the_declarations(shared_client: TestClient) -> None:
    """Discovery lists exactly the declared services, so it cannot drift from the code."""
    ids = [s["id"] for s in shared_client.get("/cds-services").json()["services"]]
    assert ids == [s.id for s in SERVICES]


def test_prefetch_covers_what_the_rules_read(shared_client: TestClient) -> None:
    """Each service prefetches the patient, conditions, procedures, medications, observations and orders."""
    for service in shared_client.get("/cds-services").json()["services"]:
        prefetch = service["prefetch"]
        assert EXPECTED_KEYS <= set(prefetch)
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        assert all("{{context.patientId}}" in template for template in prefetch.values())


def test_observation_prefetch_names_the_loinc_codes_rules_read(shared_client: TestClient) -> None:
    """The Observation query asks only for the codes in the eGFR and temperature value sets."""
    template = shared_client.get("/cds-services").json()["services"][0]["prefetch"]["observations"]
    assert "http://loinc.org|62238-1" in template
    assert "http://loinc.org|98979-8" in template
    assert "http://loinc.org|8310-5" in template
    assert "{codes}" not in template


def test_discovery_omits_empty_fields(shared_client: TestClient) -> None:
    """No null or empty value appears in the discovery document."""
    assert_no_empty_values(shared_client.get("/cds-services").json())


def test_medication_prefetch_includes_referenced_medications(shared_client: TestClient) -> None:
    """The medication queries _include the Medications their entries reference (medicationReference)."""
    for service in shared_client.get("/cds-services").json()["services"]:
        prefetch = service["prefetch"]
        assert prefetch["medicationRequests"] == (
            "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication"
        )
        assert prefetch["medicationStatements"] == (
            "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication"
        )
