"""The vignettes re-coded the ways EHRs code them give the same cards as the URL-coded originals.

Every code system under its HL7 OID, under the URL variants EHRs send (https, no ``www.``, upper
case, trailing slash, SNOMED CT edition URIs, the older ICD-10-PCS URL, a bare OID), and every
medication — in the record and among the draft orders — named by ``medicationReference`` to a
contained Medication or to one the request carries (prefetch ``_include`` entries, the draft-orders
Bundle) instead of by ``medicationCodeableConcept``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.fixtures import bundle_resources, load_patient, load_request, prefetch_for
from cds_service.terminology.systems import CPT, ICD10CM, ICD10PCS, LOINC, RXNORM, SNOMED, UCUM
from tests.contract.invariants import assert_response_invariants
from tests.vignettes.cases import SERVICE_FOR_HOOK, VIGNETTES

NAMES = sorted(VIGNETTES)
MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement")

OIDS = {
    ICD10CM: "urn:oid:2.16.840.1.113883.6.90",
    ICD10PCS: "urn:oid:2.16.840.1.113883.6.4",
    SNOMED: "urn:oid:2.16.840.1.113883.6.96",
    CPT: "urn:oid:2.16.840.1.113883.6.12",
    LOINC: "urn:oid:2.16.840.1.113883.6.1",
    RXNORM: "urn:oid:2.16.840.1.113883.6.88",
    UCUM: "urn:oid:2.16.840.1.113883.6.8",
}
VARIANTS = {
    ICD10CM: "HTTP://HL7.ORG/fhir/sid/icd-10-cm/",
    ICD10PCS: "http://www.icd10data.com/icd10pcs",
    SNOMED: "http://snomed.info/sct/731000124108/version/20240301",
    CPT: "http://ama-assn.org/go/cpt",
    LOINC: "https://loinc.org",
    RXNORM: "http://nlm.nih.gov/research/umls/rxnorm/",
    UCUM: "2.16.840.1.113883.6.8",
}


def recode_systems(value: Any, names: dict[str, str]) -> Any:
    """``value`` with the system of every coding and quantity renamed by ``names``."""
    if isinstance(value, list):
        return [recode_systems(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: recode_systems(v, names) for k, v in value.items()}
    if "code" in out and out.get("system") in names:
        out["system"] = names[out["system"]]
    return out


def as_medication(resource: dict[str, Any], med_id: str) -> dict[str, Any]:
    """A Medication whose code is the resource's medicationCodeableConcept."""
    return {"resourceType": "Medication", "id": med_id, "code": resource["medicationCodeableConcept"]}


def contained(resource: dict[str, Any]) -> dict[str, Any]:
    """A medication resource naming its drug by a contained Medication."""
    if resource.get("resourceType") not in MEDICATION_TYPES or "medicationCodeableConcept" not in resource:
        return resource
    out = {k: v for k, v in resource.items() if k != "medicationCodeableConcept"}
    out["contained"] = [as_medication(resource, "med")]
    out["medicationReference"] = {"reference": "#med"}
    return out


def referencing(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The resources with each medication naming its drug by reference to a Medication added after them."""
    out, medications = [], []
    for resource in resources:
        if resource.get("resourceType") in MEDICATION_TYPES and "medicationCodeableConcept" in resource:
            medication = as_medication(resource, f"{resource['id']}-drug")
            medications.append(medication)
            resource = {k: v for k, v in resource.items() if k != "medicationCodeableConcept"}
            resource["medicationReference"] = {"reference": f"Medication/{medication['id']}"}
        out.append(resource)
    return out + medications


def request_with(name: str, record: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
                 drafts: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> dict[str, Any]:  # fmt: skip
    """The vignette's hook request, its record and draft-order resources transformed."""
    request = load_request(name)
    resources = bundle_resources(load_patient(request.pop("fixturePatient")))
    request["prefetch"] = prefetch_for(record(copy.deepcopy(resources)))
    orders = request["context"]["draftOrders"]
    orders["entry"] = [{"resource": r} for r in drafts(bundle_resources(orders))]
    return request


def same(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return resources


RECODINGS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "oids": (lambda rs: recode_systems(rs, OIDS), lambda rs: recode_systems(rs, OIDS)),
    "url-variants": (lambda rs: recode_systems(rs, VARIANTS), lambda rs: recode_systems(rs, VARIANTS)),
    "contained-medications": (lambda rs: [contained(r) for r in rs], lambda rs: [contained(r) for r in rs]),
    "referenced-medications": (referencing, referencing),
}


def comparable(body: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The cards as (rule, indicator, summary, detail), by rule."""
    return sorted((c["source"]["topic"]["code"], c["indicator"], c["summary"], c["detail"]) for c in body["cards"])


def post(client: TestClient, request: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert_response_invariants(body)
    return body


@pytest.mark.parametrize("recoding", sorted(RECODINGS))
@pytest.mark.parametrize("name", NAMES)
def test_recoded_vignette_gets_the_same_cards(shared_client: TestClient, name: str, recoding: str) -> None:
    """The re-coded vignette gets exactly the original's cards: rule, indicator, summary and detail."""
    record, drafts = RECODINGS[recoding]
    original = post(shared_client, request_with(name, same, same))
    recoded = post(shared_client, request_with(name, record, drafts))
    assert {c["source"]["topic"]["code"]: c["indicator"] for c in recoded["cards"]} == VIGNETTES[name].expected
    assert comparable(recoded) == comparable(original)


def test_recodings_change_the_request() -> None:
    """Each re-coding really rewrites the vignette 1 request (no system or medication stays as it was)."""
    original = request_with("v1-order-sign", same, same)
    for record, drafts in RECODINGS.values():
        recoded = request_with("v1-order-sign", record, drafts)
        assert recoded["prefetch"] != original["prefetch"]
        assert recoded["context"]["draftOrders"] != original["context"]["draftOrders"]
