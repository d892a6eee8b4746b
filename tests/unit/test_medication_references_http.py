"""Through the app: OID-coded records and medications named by medicationReference (contained,
prefetched with ``_include``, read from the FHIR server, or unresolvable) get the cards their codes call for."""

from __future__ import annotations

import copy
from typing import Any

import respx
from fastapi.testclient import TestClient

from tests.conftest import (
    CPT,
    ICD10,
    bearer_authorization,
    condition,
    hook_body,
    medication_order,
    patient,
    service_order,
    topics,
)
from tests.contract.invariants import assert_response_invariants
from tests.unit.test_medication_references import CYCLOBENZAPRINE, DIAZEPAM, OXYCODONE, by_reference, medication, statement

SIGN_URL = "/cds-services/neck-pain-order-sign"
SELECT_URL = "/cds-services/neck-pain-order-select"
FHIR = "https://ehr.example.org/fhir"
TOKEN = "medication-read-token"
ICD10_OID = "urn:oid:2.16.840.1.113883.6.90"
CPT_OID = "urn:oid:2.16.840.1.113883.6.12"


def post(client: TestClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert_response_invariants(result)
    return result


def cards(body: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((c["source"]["topic"]["code"], c["indicator"], c["summary"], c["detail"]) for c in body["cards"])


def cyclobenzaprine_order(**changes: Any) -> dict[str, Any]:
    order = medication_order("828320", CYCLOBENZAPRINE["text"], "m1", days=7, per_day=3)
    return {**order, **changes}


def older_adult_with_neck_pain() -> list[dict[str, Any]]:
    return [patient(70), condition("M54.2", "Cervicalgia", onset_days=10)]


# ------------------------------------------------------------------------------ code systems


def test_oid_coded_cancer_history_is_a_red_flag_like_the_url_coded_one(shared_client: TestClient) -> None:
    """Neck pain, prostate-cancer history Z85.46 and a cervical MRI, all sent with OIDs, get the URL-coded cards:
    the malignancy is a red flag, never "no red flags"."""

    def request(icd: str, cpt: str) -> dict[str, Any]:
        resources = [
            patient(66),
            condition("M54.2", "Cervicalgia", onset_days=10, cid="c1", system=icd),
            condition("Z85.46", "Personal history of malignant neoplasm of prostate", onset_days=900, cid="c2", system=icd),
        ]
        return hook_body(resources, [service_order("72141", "MRI cervical spine without contrast", system=cpt)])

    by_url = post(shared_client, SELECT_URL, request(ICD10, CPT))
    by_oid = post(shared_client, SELECT_URL, request(ICD10_OID, CPT_OID))
    assert by_url["cards"] and "imaging-without-red-flags" not in topics(by_url)
    assert cards(by_oid) == cards(by_url)


# ------------------------------------------------------------------------------ medicationReference


def test_contained_cyclobenzaprine_for_a_70_year_old_gets_the_beers_card(shared_client: TestClient) -> None:
    """A draft naming cyclobenzaprine 5 mg by a contained Medication gets the card the coded draft gets."""
    coded = post(shared_client, SIGN_URL, hook_body(older_adult_with_neck_pain(), [cyclobenzaprine_order()], hook="order-sign"))
    order = by_reference(cyclobenzaprine_order(), "#cbz")
    order["contained"] = [medication("cbz", CYCLOBENZAPRINE)]
    referenced = post(shared_client, SIGN_URL, hook_body(older_adult_with_neck_pain(), [order], hook="order-sign"))
    assert topics(referenced)["muscle-relaxant-older-adult"] == "warning"
    assert cards(referenced) == cards(coded)


def test_prefetched_opioid_makes_a_benzodiazepine_draft_critical(shared_client: TestClient) -> None:
    """An active oxycodone MedicationStatement naming its drug by a Medication among the _include entries
    makes the diazepam draft's card critical, as a coded statement does."""
    diazepam = by_reference(medication_order("197591", "x", "m1"), "#dzp")
    diazepam["contained"] = [medication("dzp", DIAZEPAM)]
    resources = [*older_adult_with_neck_pain(), statement("s1", "Medication/oxy"), medication("oxy", OXYCODONE)]
    body = hook_body(resources, [diazepam], hook="order-sign")
    assert body["prefetch"]["medicationStatements"]["entry"][1]["search"] == {"mode": "include"}
    assert topics(post(shared_client, SIGN_URL, body))["benzodiazepine-for-spasm"] == "critical"
    without = hook_body(older_adult_with_neck_pain(), [diazepam], hook="order-sign")
    assert topics(post(shared_client, SIGN_URL, without))["benzodiazepine-for-spasm"] == "warning"


def test_medications_read_from_the_fhir_server(client: TestClient, mock: respx.MockRouter) -> None:
    """With fhirServer, a Medication neither contained nor prefetched is read (with the token) and classified."""
    read = mock.get(f"{FHIR}/Medication/cbz").respond(json=medication("cbz", CYCLOBENZAPRINE))
    body = hook_body(older_adult_with_neck_pain(), [by_reference(cyclobenzaprine_order(), "Medication/cbz")], hook="order-sign")
    body["fhirServer"] = FHIR
    body["fhirAuthorization"] = bearer_authorization(TOKEN)
    assert topics(post(client, SIGN_URL, body))["muscle-relaxant-older-adult"] == "warning"
    assert read.call_count == 1 and read.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_unresolvable_references_answer_200_keeping_the_order(client: TestClient, mock: respx.MockRouter) -> None:
    """A reference that resolves nowhere (404 on the server) is no 500: its display still names the drug,
    and a draft without one stays an order that gets no drug card."""
    mock.get(url__regex=rf"{FHIR}/Medication/.*").respond(404)
    named = by_reference(cyclobenzaprine_order(), "Medication/gone", "Cyclobenzaprine 5 mg tablet")
    bare = by_reference(cyclobenzaprine_order(id="m2"), "Medication/gone-too")
    for orders, expected in (([named], True), ([bare], False)):
        body = hook_body(older_adult_with_neck_pain(), copy.deepcopy(orders), hook="order-sign")
        body["fhirServer"] = FHIR
        assert ("muscle-relaxant-older-adult" in topics(post(client, SIGN_URL, body))) is expected
    select = hook_body(older_adult_with_neck_pain(), [bare, service_order("72141", "MRI cervical spine", "s1")])
    assert post(client, SELECT_URL, select)["cards"]  # the unresolved draft among the selections is no error
