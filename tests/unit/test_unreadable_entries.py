"""Record entries that cannot be read at all: which they are, and which leave a red flag possible."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.content.store import ContentStore
from cds_service.facts.record import select_record
from cds_service.facts.unreadable import unreadable_concept
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import ICD10, RXNORM, condition, patient, procedure

INDEX = ContentStore(BUNDLED_CONTENT_DIR).current.index
SNOMED = "http://snomed.info/sct"


@pytest.mark.parametrize(
    "concept",
    ["C79.51", 7951, True, ["C79.51"], {"system": ICD10, "code": "C79.51"}, {"coding": "C79.51"},
     {"coding": [{"system": ICD10, "code": 7951}]}, {"coding": [{"system": 5, "code": "C79.51"}]}, {"text": 5}],
)  # fmt: skip
def test_codes_that_hold_nothing_readable_are_unreadable(concept: Any) -> None:
    """A string, a bare Coding, codings without a string code and no text: nothing in them can be read."""
    assert unreadable_concept(concept)


@pytest.mark.parametrize(
    "concept",
    [None, {}, {"coding": [{"system": ICD10, "code": "C79.51"}]}, {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.90", "code": "M54.2"}]},
     {"coding": [{"system": SNOMED, "code": "279039007"}]}, {"text": "Neck pain"}, {"coding": [{"display": "Neck pain"}]},
     {"coding": {"system": RXNORM, "code": "197591"}}, [{"coding": [{"system": ICD10, "code": "M54.2"}]}]],
)  # fmt: skip
def test_codes_coded_or_worded_as_ehrs_send_them_are_readable(concept: Any) -> None:
    """ICD-10-CM by URL or OID, SNOMED CT, text only, a display only, a single coding object: each is read."""
    assert not unreadable_concept(concept)


def record_of(key: str, *resources: dict[str, Any]) -> Any:
    return select_record({"patient": [patient(60)], key: copy.deepcopy(list(resources))}, INDEX, "p1")


def test_entries_of_no_known_type_under_a_red_flag_key_stand_for_its_type() -> None:
    """A 'condition' and an entry with no resourceType among the Conditions are unreadable Conditions, each its own reference."""
    lower = {**condition("C79.51", "Secondary malignant neoplasm of bone", 60, "c2"), "resourceType": "condition"}
    untyped = {k: v for k, v in condition("C79.51", "Secondary malignant neoplasm of bone", 60, "c3").items() if k != "resourceType"}
    no_id = {k: v for k, v in lower.items() if k != "id"}
    record = record_of("conditions", lower, untyped, no_id, no_id)
    assert [(e.ref, e.resource_type) for e in record.unreadable] == [
        ("Condition/c2", "Condition"), ("Condition/c3", "Condition"), ("Condition/?3", "Condition"), ("Condition/?4", "Condition"),
    ]  # fmt: skip
    assert record.candidates == ()


def test_unreadable_codes_of_conditions_and_medications_are_kept_others_only_counted() -> None:
    """A Condition or medication with an unreadable code leaves a red flag possible; a Procedure's does not."""
    cancer = {**condition("C79.51", "Bone metastasis", 60, "c2"), "code": "C79.51"}
    statement = {"resourceType": "MedicationStatement", "id": "ms1", "status": "active", "medicationCodeableConcept": "prednisone"}
    exercise = {**procedure("97110", "Therapeutic exercise", 400, "pt"), "code": "97110"}
    assert [e.ref for e in record_of("conditions", cancer).unreadable] == ["Condition/c2"]
    assert [e.ref for e in record_of("medicationStatements", statement).unreadable] == ["MedicationStatement/ms1"]
    assert record_of("procedures", exercise).unreadable == ()
    assert record_of("imagingStudies", {"resourceType": "Nope", "id": "i1"}).unreadable == ()


def test_readable_entries_of_known_types_are_not_unreadable() -> None:
    """Well-formed Conditions (in a value set or not) and resources of known uncoded types leave nothing unreadable."""
    local = condition("L-1", "Hypertension", 400, "h1", system="http://hospital.example.org/codes")
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished"}
    record = record_of("conditions", condition("M54.2", "Cervicalgia", 7), local, encounter)
    assert record.unreadable == ()
