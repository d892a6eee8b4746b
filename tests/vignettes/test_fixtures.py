"""The vignette fixtures themselves: they load, validate as R4, follow the conventions, and never go stale."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle

from cds_service.content.lint_codes import code_problem
from cds_service.content.loader import load_content
from cds_service.facts.dates import whole_years
from cds_service.fhir.parse import model_class
from cds_service.fixtures import (
    ANCHOR_DATE,
    FIXTURES_DIR,
    PATIENTS,
    REQUESTS,
    bundle_resources,
    fixture_names,
    hook_request,
    load_patient,
    load_request,
)
from cds_service.protocol.models import CDSRequest
from cds_service.protocol.services import PREFETCH
from cds_service.settings import BUNDLED_CONTENT_DIR
from cds_service.terminology.icd10 import icd10cm_title
from cds_service.terminology.systems import canonical_system
from tests.vignettes.cases import AGES
from tests.vignettes.recode import medication_concept

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CODE_FIELDS = {
    "Condition": "code",
    "Procedure": "code",
    "Observation": "code",
    "ServiceRequest": "code",
    "MedicationRequest": "medicationCodeableConcept",
}
# Coded entries that deliberately fall in no value set (the out-of-scope control).
OUTSIDE_VALUE_SETS = {"Condition/v9c-hypertension"}
# Free-text orders, as EHRs send nursing orders (the SNOMED CT ids named for bed rest are not valid ids).
TEXT_ONLY_ORDERS = {"ServiceRequest/v9b-order-bed-rest"}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$")
PATIENT_NAMES = fixture_names(PATIENTS)
PATIENT_IDS = {r["id"] for n in PATIENT_NAMES for r in bundle_resources(load_patient(n))}
REQUEST_NAMES = fixture_names(REQUESTS)
ALL_FIXTURES = [(PATIENTS, n) for n in PATIENT_NAMES] + [(REQUESTS, n) for n in REQUEST_NAMES]


@pytest.fixture(scope="module")
def content() -> Any:
    return load_content(BUNDLED_CONTENT_DIR)


def raw(kind: str, name: str) -> Any:
    return orjson.loads((FIXTURES_DIR / kind / f"{name}.json").read_bytes())


def prefix(name: str) -> str:
    return name.split("-", 1)[0] + "-"


def codings(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The codings of a resource's code (a MedicationRequest's medication, contained or not), systems made canonical."""
    if resource["resourceType"] == "MedicationRequest":
        concept = medication_concept(resource)
    else:
        concept = resource[CODE_FIELDS[resource["resourceType"]]]
    return [{**c, "system": canonical_system(c["system"])} for c in concept.get("coding", [])]


def test_every_vignette_patient_exists() -> None:
    """There is one fixture patient per vignette patient, and only those."""
    assert PATIENT_NAMES == sorted(AGES)


@pytest.mark.parametrize("name", PATIENT_NAMES)
def test_patient_bundle_validates_as_r4(name: str) -> None:
    """The patient Bundle and every resource in it validate with fhir.resources R4B."""
    bundle = load_patient(name)
    assert bundle["type"] == "collection"
    Bundle.model_validate(bundle)
    for resource in bundle_resources(bundle):
        model_class(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("name", PATIENT_NAMES)
def test_patient_bundle_conventions(name: str) -> None:
    """Patient first, id = file name; prefixed unique ids; subjects; statuses; dotted ICD-10-CM, official titles."""
    resources = bundle_resources(load_patient(name))
    patient = resources[0]
    assert patient["resourceType"] == "Patient" and patient["id"] == name
    ids = [r["id"] for r in resources]
    assert len(ids) == len(set(ids))
    assert all(i.startswith(prefix(name)) for i in ids)
    for resource in resources[1:]:
        assert resource["subject"] == {"reference": f"Patient/{name}"}
        if resource["resourceType"] == "Condition":
            assert resource["clinicalStatus"]["coding"][0]["code"] in {"active", "resolved", "inactive"}
        else:
            assert resource["status"]
        for coding in codings(resource):
            if coding["system"] == ICD10:
                assert "." in coding["code"] or len(coding["code"]) == 3
                assert coding["display"] == icd10cm_title(coding["code"]), coding["code"]


@pytest.mark.parametrize("name", PATIENT_NAMES)
def test_patient_codes_mean_something_to_the_service(name: str, content: Any) -> None:
    """Every coded entry is in a value set, every RxNorm code a known product or in a drug value set (but the controls)."""
    for resource in bundle_resources(load_patient(name))[1:]:
        ref = f"{resource['resourceType']}/{resource['id']}"
        if resource["resourceType"] == "MedicationRequest":
            coded = [(c["system"], c["code"]) for c in codings(resource)]
            assert coded and all(system == RXNORM for system, _ in coded), ref
            known = any(content.terminology.rxnorm.product(code) for _, code in coded)
            assert known or content.index.of_medication(coded, "")[1], f"{ref}: no known product, in no value set"
            continue
        sets = content.index.of_codings((c["system"], c["code"]) for c in codings(resource))
        assert bool(sets) != (ref in OUTSIDE_VALUE_SETS), ref


@pytest.mark.parametrize("name", REQUEST_NAMES)
def test_request_loads_and_validates(name: str, content: Any) -> None:
    """The hook request validates as CDS Hooks, its drafts as R4, and its prefetch covers every template key."""
    request = load_request(name)
    patient_name = request["fixturePatient"]
    assert patient_name in PATIENT_NAMES
    uuid.UUID(request["hookInstance"])
    body = hook_request(name)
    assert "fixturePatient" not in body
    CDSRequest.model_validate(body)
    assert set(body["prefetch"]) == {q.key for q in PREFETCH}
    assert body["prefetch"]["patient"]["id"] == patient_name
    context = body["context"]
    assert context["patientId"] == patient_name and context["userId"].startswith("Practitioner/")
    Bundle.model_validate(context["draftOrders"])
    refs = []
    for entry in context["draftOrders"]["entry"]:
        order = entry["resource"]
        model_class(order["resourceType"]).model_validate(order)
        assert order["status"] == "draft" and order["subject"] == {"reference": f"Patient/{patient_name}"}
        assert order["id"].startswith(prefix(name)) and order["id"] not in PATIENT_IDS
        refs.append(f"{order['resourceType']}/{order['id']}")
        coded = [(c["system"], c["code"]) for c in codings(order)]
        if refs[-1] in TEXT_ONLY_ORDERS:
            assert not coded and order["code"]["text"]
        elif order["resourceType"] != "MedicationRequest":
            assert content.index.of_codings(coded), f"{refs[-1]} falls in no value set"
        else:
            assert content.index.of_medication(coded, "")[1], f"{refs[-1]} is no known drug"
            dosage = order["dosageInstruction"][0]
            assert {"frequency", "period", "periodUnit"} <= set(dosage["timing"]["repeat"])
            assert dosage["doseAndRate"][0]["doseQuantity"]["value"]
            dispense = order["dispenseRequest"]
            assert dispense["expectedSupplyDuration"]["code"] == "d" and "numberOfRepeatsAllowed" in dispense
    assert len(refs) == len(set(refs))
    if body["hook"] == "order-select":
        assert context["selections"] and set(context["selections"]) <= set(refs)
    else:
        assert body["hook"] == "order-sign" and "selections" not in context


def all_codings(value: Any) -> list[dict[str, Any]]:
    """Every Coding (an object with system and code) anywhere in a JSON value."""
    if isinstance(value, dict):
        here = [value] if isinstance(value.get("system"), str) and isinstance(value.get("code"), str) else []
        return here + [c for item in value.values() for c in all_codings(item)]
    if isinstance(value, list):
        return [c for item in value for c in all_codings(item)]
    return []


@pytest.mark.parametrize(("kind", "name"), ALL_FIXTURES)
def test_codes_are_well_formed(kind: str, name: str) -> None:
    """Every ICD-10-CM, CPT, LOINC, RxNorm and SNOMED CT code in a fixture is well formed (check digits too)."""
    problems = [code_problem(canonical_system(c["system"]), c["code"]) for c in all_codings(raw(kind, name))]
    assert [p for p in problems if p] == []


def test_hook_instances_are_distinct() -> None:
    """Every fixture request has its own fixed hookInstance."""
    instances = [load_request(n)["hookInstance"] for n in REQUEST_NAMES]
    assert len(instances) == len(set(instances))


@pytest.mark.parametrize("name", PATIENT_NAMES)
def test_ages_are_right_today(name: str) -> None:
    """Loaded today, each patient is the age its vignette states."""
    born = date.fromisoformat(load_patient(name)["entry"][0]["resource"]["birthDate"])
    assert whole_years(born, date.today()) == AGES[name]


def pairs(before: Any, after: Any, path: str = "$") -> list[tuple[str, Any, Any]]:
    """Every leaf of two same-shaped JSON values, side by side."""
    if isinstance(before, dict):
        assert isinstance(after, dict) and set(before) == set(after), path
        return [p for k in before for p in pairs(before[k], after[k], f"{path}.{k}")]
    if isinstance(before, list):
        assert isinstance(after, list) and len(before) == len(after), path
        return [p for i, (b, a) in enumerate(zip(before, after)) for p in pairs(b, a, f"{path}[{i}]")]
    return [(path, before, after)]


def moved(text: str, days: int) -> str:
    if "T" not in text:
        return (date.fromisoformat(text) + timedelta(days=days)).isoformat()
    head, tail = text.split("T", 1)
    return f"{(date.fromisoformat(head) + timedelta(days=days)).isoformat()}T{tail}"


@pytest.mark.parametrize("days", [1, 59, 365, 790, -45])
@pytest.mark.parametrize(("kind", "name"), ALL_FIXTURES)
def test_loading_shifts_every_date(kind: str, name: str, days: int) -> None:
    """Loading with today = anchor + N moves every date and dateTime by N days and changes nothing else."""
    loader = load_patient if kind == PATIENTS else load_request
    leaves = pairs(raw(kind, name), loader(name, today=ANCHOR_DATE + timedelta(days=days)))
    dates = [(p, b, a) for p, b, a in leaves if isinstance(b, str) and DATE.match(b)]
    assert dates, "every fixture has dates"
    for path, before, after in leaves:
        expected = moved(before, days) if isinstance(before, str) and DATE.match(before) else before
        assert after == expected, path


@pytest.mark.parametrize("days", [0, 1, 59, 365, 790, 1461, -45])
@pytest.mark.parametrize("name", PATIENT_NAMES)
def test_loading_keeps_ages(name: str, days: int) -> None:
    """Whatever the load date, the patient's whole-year age on that date is the vignette's age."""
    today = ANCHOR_DATE + timedelta(days=days)
    born = date.fromisoformat(load_patient(name, today=today)["entry"][0]["resource"]["birthDate"])
    assert whole_years(born, today) == AGES[name]
