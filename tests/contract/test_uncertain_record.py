"""Hook calls whose record cannot all be read or recognised: no reassurance, and no silent 200."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    ICD10, condition, hook_body, medication_order, observation, patient, procedure, service_order, topics,
)

URL = "/cds-services/neck-pain-order-select"
LOCAL = "http://hospital.example.org/codes"
REASSURING = {"imaging-without-red-flags", "physical-therapy-first"}
MRI = service_order("72141", "MRI cervical spine without contrast")
RECENT_MRI = procedure("72141", "MRI cervical spine without contrast", 20, "prior-mri")


def local_condition(text: str, cid: str = "x1") -> dict[str, Any]:
    """A Condition coded in a local system no value set knows, whose text is ``text``."""
    return condition("L-123", text, 400, cid, system=LOCAL)


def call(client: TestClient, *resources: dict[str, Any], orders: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = hook_body([patient(59), condition("M54.2", "Cervicalgia", onset_days=7), *resources], orders or [MRI])
    response = client.post(URL, json=body)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def metric(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of /metrics (0 when absent)."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def withheld(client: TestClient, rule_id: str, reason: str) -> float:
    return metric(client, "cds_reassurance_withheld_total", rule_id=rule_id, reason=reason)


def test_unrecognised_cancer_text_withholds_reassurance(client: TestClient) -> None:
    """A 59-year-old with an unknown-coded 'Primary malignant neoplasm of colon': no reassuring card, the others fire, counted."""
    baseline = call(client, RECENT_MRI)
    assert REASSURING <= set(topics(baseline)) and "imaging-modality" in topics(baseline)
    answer = call(client, RECENT_MRI, local_condition("Primary malignant neoplasm of colon"))
    assert not REASSURING & set(topics(answer))
    modality = next(c for c in answer["cards"] if c["source"]["topic"]["code"] == "imaging-modality")
    assert "Could not be read or recognised:** 1 Condition(s) — red flags cannot be excluded." in modality["detail"]
    assert "Primary malignant neoplasm" not in json.dumps(answer)  # counted, never listed
    assert withheld(client, "imaging-without-red-flags", "unrecognised-text") == 1
    assert withheld(client, "physical-therapy-first", "unrecognised-text") == 1


def test_invalid_malignancy_condition_withholds_reassurance(client: TestClient) -> None:
    """A malignancy Condition that fails validation (a bad date) silences the reassuring cards, counted as unreadable."""
    cancer = condition("C18.9", "Malignant neoplasm of colon, unspecified", 400, "ca", system=ICD10)
    cancer["onsetDateTime"] = "not-a-date"
    answer = call(client, cancer)
    assert not REASSURING & set(topics(answer))
    assert withheld(client, "imaging-without-red-flags", "unreadable") == 1


def test_ankle_fracture_does_not_withhold(client: TestClient) -> None:
    """An unknown-coded ankle fracture is no spinal red flag: the reassuring cards still fire, without the note."""
    answer = call(client, local_condition("Closed fracture of ankle"))
    assert REASSURING <= set(topics(answer))
    assert "Could not be read" not in json.dumps(answer)
    assert withheld(client, "imaging-without-red-flags", "unrecognised-text") == 0


def test_unknown_immunosuppressant_withholds_reassurance(client: TestClient) -> None:
    """A fingolimod MedicationStatement (an immunosuppressant in no value set) silences the reassuring cards; the card says '1 medication(s)'."""
    statement = {
        "resourceType": "MedicationStatement", "id": "ms1", "status": "active", "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": LOCAL, "code": "T-1", "display": "Fingolimod 0.5 MG Oral Capsule"}]},
    }
    answer = call(client, RECENT_MRI, statement)
    assert not REASSURING & set(topics(answer))
    assert any("1 medication(s) — red flags cannot be excluded" in c["detail"] for c in answer["cards"])


def test_unresolved_medication_reference_withholds_reassurance(client: TestClient) -> None:
    """A MedicationStatement naming its drug by a reference no request part resolves (no fhirServer): no reassurance, counted, said."""
    statement = {
        "resourceType": "MedicationStatement", "id": "ms2", "status": "active", "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/not-sent"},
    }
    answer = call(client, RECENT_MRI, statement)
    assert not REASSURING & set(topics(answer)) and "imaging-modality" in topics(answer)
    assert any("1 medication(s) — red flags cannot be excluded" in c["detail"] for c in answer["cards"])
    assert withheld(client, "imaging-without-red-flags", "unresolved-medication") == 1


def test_resolved_medication_reference_does_not_withhold(client: TestClient) -> None:
    """The same statement with its Medication contained is read and understood (ibuprofen): the reassuring cards still fire."""
    statement = {
        "resourceType": "MedicationStatement", "id": "ms3", "status": "active", "subject": {"reference": "Patient/p1"},
        "contained": [{"resourceType": "Medication", "id": "m", "code": {"coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197806", "display": "Ibuprofen 600 MG Oral Tablet"}
        ]}}],
        "medicationReference": {"reference": "#m"},
    }
    answer = call(client, statement)
    assert REASSURING <= set(topics(answer))
    assert "Could not be read" not in json.dumps(answer)


# --------------------------------------------------------------------------- conditions not read


def test_conditions_outcome_and_non_spine_order_is_412(client: TestClient) -> None:
    """Conditions sent as an OperationOutcome, no fhirServer, a physical-therapy order: 412 naming conditions and why."""
    body = hook_body([patient(59), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("97161", "PT evaluation")])
    body["prefetch"]["conditions"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}
    response = client.post(URL, json=body)
    assert response.status_code == 412
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["prefetch.conditions"] and "(no-fhir-server)" in issue["diagnostics"]
    assert metric(client, "cds_prefetch_unavailable_total", key="conditions", reason="no-fhir-server") == 1


def test_unrelated_order_without_conditions_is_not_412(client: TestClient) -> None:
    """Conditions unreadable but an order no card could be about (an unknown test): nothing to decide, 200 and no cards."""
    body = hook_body([patient(59)], [service_order("99999", "Other test")])
    body["prefetch"].pop("conditions")
    response = client.post(URL, json=body)
    assert response.status_code == 200 and response.json() == {"cards": []}


def test_conditions_unavailable_with_spine_order_answers_the_others(client: TestClient) -> None:
    """Conditions unreadable, a spine X-ray in scope by itself, a fever: 200 with red-flag-urgent, no card needing Conditions."""
    fever = observation("8310-5", "Body temperature", 38.6, "Cel", "t1", 1)
    body = hook_body([patient(59), fever], [service_order("72040", "X-ray cervical spine 2-3 views")])
    body["prefetch"].pop("conditions")
    response = client.post(URL, json=body)
    assert response.status_code == 200
    assert set(topics(response.json())) == {"red-flag-urgent"}


def test_failing_next_page_keeps_the_first_page(client: TestClient) -> None:
    """A conditions Bundle whose next page cannot be read keeps page one (the scope condition) and silences absence rules."""
    order = medication_order("197806", "Ibuprofen 600 MG Oral Tablet")
    body = hook_body([patient(59), condition("M54.2", "Cervicalgia", onset_days=7)], [order])
    complete = client.post(URL, json=body)
    assert complete.status_code == 200 and "physical-therapy-first" in topics(complete.json())
    paged = copy.deepcopy(body)
    paged["prefetch"]["conditions"]["link"] = [{"relation": "next", "url": "https://ehr.example.org/fhir/Condition?page=2"}]
    response = client.post(URL, json=paged)
    assert response.status_code == 200  # the scope condition of page one opens the gate: no 412
    assert "physical-therapy-first" not in topics(response.json())  # Conditions incomplete: absence unknown
