"""Validation with a per-request memo decides and builds exactly what plain validation does."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from cds_service.facts.record import READ_ELEMENTS
from cds_service.fhir.parse import clear_validated, model_class, parse_resource
from cds_service.fixtures import bundle_resources, fixture_names, load_patient
from tests.conftest import condition, medication_order


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    """Each test validates from scratch: no model kept from an earlier one (``parse.VALIDATED_MAX``)."""
    clear_validated()
    yield
    clear_validated()


def _fixture_resources() -> list[dict]:
    return [r for name in fixture_names() for r in bundle_resources(load_patient(name)) if r["resourceType"] != "Patient"]


def test_memo_validation_builds_the_same_models_as_plain_validation() -> None:
    """Every fixture resource, and repeated builder resources, validate to equal models with and without a memo."""
    resources = _fixture_resources() + [condition("M54.2", "Cervicalgia", d, f"c{d}") for d in (3, 30, 300)]
    resources += [medication_order("197806", "Ibuprofen 600 MG Oral Tablet", f"m{i}") for i in range(3)]
    memo: dict = {}
    for raw in resources:
        expected = (raw["resourceType"],)
        with_memo = parse_resource(raw, expected, READ_ELEMENTS, memo)
        clear_validated()  # the plain pass validates too, rather than being handed the model just built
        assert with_memo == parse_resource(raw, expected, READ_ELEMENTS)
        clear_validated()
    assert memo, "complex elements went through the memo"


def test_a_repeated_element_value_is_validated_once_and_shared() -> None:
    """Two Conditions with the same code share one validated CodeableConcept model."""
    memo: dict = {}
    first = parse_resource(condition("M54.2", "Cervicalgia", 10, "c1"), ("Condition",), READ_ELEMENTS, memo)
    second = parse_resource(condition("M54.2", "Cervicalgia", 20, "c2"), ("Condition",), READ_ELEMENTS, memo)
    assert first is not None and second is not None
    assert first.code is second.code and first.onsetDateTime != second.onsetDateTime


def test_invalid_and_repairable_elements_are_decided_as_without_a_memo() -> None:
    """A bad nested value is rejected and a single coding object repaired, with or without a memo."""
    bad = condition("M54.2", "Cervicalgia", 10)
    bad["clinicalStatus"] = {"coding": [{"system": 42, "code": "active"}]}
    sloppy = condition("M54.2", "Cervicalgia", 10)
    sloppy["code"]["coding"] = sloppy["code"]["coding"][0]
    for memo in ({}, None):
        clear_validated()
        assert parse_resource(copy.deepcopy(bad), ("Condition",), READ_ELEMENTS, memo) is None
        repaired = parse_resource(copy.deepcopy(sloppy), ("Condition",), READ_ELEMENTS, memo)
        assert repaired is not None and repaired.code.coding[0].code == "M54.2"


def test_valid_resources_are_built_by_the_memo_pass_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each valid fixture resource validates with a memo without the plain pass (the library's ``model_validate``) running."""
    plain: list[str] = []
    for name in ("Condition", "MedicationRequest", "Observation", "Procedure", "ServiceRequest", "Patient"):
        cls = model_class(name)
        monkeypatch.setattr(cls, "model_validate", classmethod(lambda cls, raw, *a, **k: plain.append(raw["resourceType"])))
    memo: dict = {}
    resources = _fixture_resources() + [condition("M54.2", "Cervicalgia", 3), medication_order("197806", "Ibuprofen 600 MG Oral Tablet")]
    models = [parse_resource(raw, (raw["resourceType"],), READ_ELEMENTS, memo) for raw in resources]
    assert all(model is not None for model in models) and plain == []
    assert {type(model).__name__ for model in models} >= {"Condition", "MedicationRequest", "Observation"}
