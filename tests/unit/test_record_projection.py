"""Record resources are validated on what the fact code reads (READ_ELEMENTS) and what FHIR requires."""

from __future__ import annotations

import ast
from pathlib import Path

from cds_service.content.store import ContentStore
from cds_service.facts.record import _CODE_FIELD, PATIENT_ELEMENTS, READ_ELEMENTS, select_record
from cds_service.fhir.parse import kept_elements, model_class, parse_resource, required_elements
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import condition, patient

FACTS_DIR = Path(__file__).resolve().parents[2] / "cds_service" / "facts"


def _record(*resources: dict) -> object:
    index = ContentStore(BUNDLED_CONTENT_DIR).current.index
    return select_record({"all": [patient(60), *resources]}, index, "p1")


def _names_read_from_models() -> set[str]:
    """String names in getattr/element calls, attributes of ``model`` / ``x.model`` / ``patient`` in facts/."""
    names: set[str] = set()
    for path in FACTS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "element") and len(node.args) >= 2:
                if isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                    names.add(node.args[1].value)
            elif isinstance(node, ast.Attribute):
                owner = node.value
                if (isinstance(owner, ast.Name) and owner.id in ("model", "patient")) or (
                    isinstance(owner, ast.Attribute) and owner.attr == "model"
                ):
                    names.add(node.attr)
    return names


def test_every_element_the_fact_code_reads_is_validated_and_kept() -> None:
    """Each top-level element of a record resource that facts/ reads from a model is in READ_ELEMENTS or required."""
    missing = set()
    for resource_type in _CODE_FIELD:
        fields = {info.alias or name for name, info in model_class(resource_type).model_fields.items()}
        kept = kept_elements(resource_type, READ_ELEMENTS)
        missing |= {f"{resource_type}.{name}" for name in _names_read_from_models() & fields if name not in kept}
    assert not missing, f"read but not validated (add to facts/record.py READ_ELEMENTS): {sorted(missing)}"


def test_every_patient_element_the_fact_code_reads_is_validated_and_kept() -> None:
    """Each Patient element that facts/ reads is in PATIENT_ELEMENTS (or always kept, like ``id``)."""
    fields = {info.alias or name for name, info in model_class("Patient").model_fields.items()}
    kept = kept_elements("Patient", PATIENT_ELEMENTS)
    missing = sorted(name for name in _names_read_from_models() & fields if name not in kept)
    assert not missing, f"Patient elements read but not validated (add to PATIENT_ELEMENTS): {missing}"


def test_the_patient_is_validated_on_its_birth_date_only() -> None:
    """A Patient's name is never parsed (a malformed one does not matter); a malformed birthDate drops it."""
    index = ContentStore(BUNDLED_CONTENT_DIR).current.index
    person = {**patient(60), "name": "Jane Doe"}
    record = select_record({"patient": [person]}, index, "p1")
    assert record.patient is not None and record.patient.name is None and record.patient.birthDate is not None
    person["birthDate"] = "sixty years ago"
    assert select_record({"patient": [person]}, index, "p1").patient is None


def test_unread_elements_are_not_validated_or_kept() -> None:
    """A Condition with a malformed meta and identifier is still used; its model holds neither."""
    raw = condition("M54.2", "Cervicalgia", 10)
    raw["meta"] = {"lastUpdated": "yesterday"}
    raw["identifier"] = "not-a-list-of-identifiers"
    record = _record(raw)
    assert [e.ref for e in record.entries] == ["Condition/c1"]
    assert record.entries[0].model.meta is None and record.entries[0].model.identifier is None
    assert record.entries[0].when is not None


def test_a_malformed_read_element_still_skips_the_resource() -> None:
    """A Condition whose onsetDateTime is not a date is skipped, as before."""
    raw = condition("M54.2", "Cervicalgia", 10)
    raw["onsetDateTime"] = "last spring"
    assert _record(raw).entries == ()


def test_required_elements_are_still_validated() -> None:
    """A Condition without its required subject, or an Observation without status, is skipped."""
    raw = condition("M54.2", "Cervicalgia", 10)
    del raw["subject"]
    assert _record(raw).entries == ()
    observation = {"resourceType": "Observation", "id": "o1", "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}}
    assert parse_resource(observation, ("Observation",), READ_ELEMENTS) is None
    assert {"status", "code"} <= required_elements("Observation")
    assert {"medicationCodeableConcept", "medicationReference", "subject", "intent"} <= required_elements("MedicationRequest")


def test_a_single_object_for_a_list_validates_in_one_pass(monkeypatch) -> None:
    """A top-level object where a list is wanted (the Sandbox's ``category``) is wrapped before validation."""
    cls = model_class("MedicationRequest")
    calls = []
    original = cls.model_validate
    monkeypatch.setattr(cls, "model_validate", lambda data, *a, **k: calls.append(1) or original(data, *a, **k))
    raw = {
        "resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "community"}]},
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "313782"}]},
    }
    model = parse_resource(raw, ("MedicationRequest",))
    assert model is not None and len(model.category) == 1 and len(calls) == 1
    assert isinstance(raw["category"], dict)  # the input is left as it was
