"""The service's after-construction check for fhir.resources models decides and reports exactly as the library's own."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cds_service.fhir.aftercheck import fast_check, installed, library_check, plan

MODELS = ["Patient", "Condition", "Procedure", "ServiceRequest", "MedicationRequest", "MedicationStatement",
          "Observation", "ImagingStudy", "Bundle", "CodeableConcept", "Coding", "Reference", "Period",
          "Dosage", "Timing", "Quantity", "Extension", "Medication"]  # fmt: skip
EXTENSION = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}


def _outcome(check: Any, model: Any) -> Any:
    try:
        return ("kept", check(model) is model)
    except ValidationError as exc:
        return ("rejected", exc.errors(include_url=False))
    except ValueError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("name", MODELS)
def test_every_model_runs_the_fast_check(name: str) -> None:
    """Resource and element models the service validates are built with the fast after-construction check."""
    assert installed(get_fhir_model_class(name))


def test_models_imported_first_thing_run_the_fast_check() -> None:
    """A process importing the service package first builds its FHIR models with the fast check."""
    code = ("from cds_service.fhir.parse import model_class; from cds_service.fhir.aftercheck import installed; "
            "assert installed(model_class('MedicationRequest')), 'not installed'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def _fields(cls: Any) -> list[str]:
    """The fields the check reads: required ones, their ``__ext`` siblings and every choice."""
    model = cls.model_construct()
    names = [cls.get_alias_mapping()[n] for n, _ in model.get_required_fields()]
    names += [ext for _, ext in model.get_required_fields() if ext]
    names += [f for fields in model.get_one_of_many_fields().values() for f in fields]
    return names or list(cls.model_fields)[:3]


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(["Condition", "Observation", "MedicationRequest", "Dosage", "Quantity", "Extension", "Timing",
                          "MedicationStatement", "Procedure"]),
    picks=st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["value", None, "ext", "empty-ext"])), max_size=8),
)
def test_same_answer_as_the_library(name: str, picks: list[tuple[int, str | None]]) -> None:
    """On any mix of required elements, their extensions and choices set or not, the fast check passes, or
    rejects with the same error, what the library's does."""
    cls = get_fhir_model_class(name)
    fields = _fields(cls)
    values: dict[str, Any] = {}
    for position, kind in picks:
        field = fields[position % len(fields)]
        if kind == "value" and field.endswith("__ext"):  # an extension sibling holds extensions, never a value
            kind = "ext"
        if kind == "value":
            values[field] = "x"
        elif kind == "ext":
            values[field] = dict(EXTENSION)
        elif kind == "empty-ext":
            values[field] = {"extension": []}
        else:
            values[field] = None
    model = cls.model_construct(**values)
    assert _outcome(fast_check, model) == _outcome(library_check, model)


@pytest.mark.parametrize("name", MODELS)
def test_a_plan_is_made_for_the_models_the_service_reads(name: str) -> None:
    """Every model above gets a plan (no class falls back to the library on every call)."""
    assert plan(get_fhir_model_class(name).model_construct()) is not None


def test_a_missing_required_element_and_two_choices_are_still_rejected() -> None:
    """An Observation without status, or with two value[x], fails validation as the library makes it fail."""
    observation = get_fhir_model_class("Observation")
    code = {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}
    with pytest.raises(ValidationError, match="status"):
        observation.model_validate({"resourceType": "Observation", "code": code})
    with pytest.raises(ValidationError, match="multiple"):
        observation.model_validate({"resourceType": "Observation", "status": "final", "code": code,
                                    "valueString": "a", "valueBoolean": True})
