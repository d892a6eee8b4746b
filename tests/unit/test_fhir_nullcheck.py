"""The service's null check for fhir.resources models decides and reports exactly as the library's own."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cds_service.fhir.nullcheck import checked_fields, fast_check, installed, library_check

MODELS = ["Patient", "Condition", "Procedure", "ServiceRequest", "MedicationRequest", "MedicationStatement",
          "Observation", "ImagingStudy", "Bundle", "CodeableConcept", "Coding", "Reference", "Period",
          "Dosage", "Timing", "Quantity", "Extension"]  # fmt: skip
VALUES = [None, [], [None], [{}], [{}, None], [None, {}], ["a", None], "x", {}, 3]


def _outcome(check: Any, cls: Any, data: Any) -> Any:
    try:
        return ("kept", check(cls, data))
    except ValidationError as exc:
        return ("rejected", exc.errors(include_url=False))


@pytest.mark.parametrize("name", MODELS)
def test_every_model_runs_the_fast_check(name: str) -> None:
    """Resource and element models the service validates are built with the fast null check."""
    assert installed(get_fhir_model_class(name))


def test_models_imported_first_thing_run_the_fast_check() -> None:
    """A process importing the service package first builds its FHIR models with the fast check."""
    code = ("from cds_service.fhir.parse import model_class; from cds_service.fhir.nullcheck import installed; "
            "assert installed(model_class('Condition')), 'not installed'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["Condition", "CodeableConcept", "Dosage", "Patient"])
def test_checks_the_same_fields_as_the_library(name: str) -> None:
    """A null in each checked field is rejected, and a null in any other list field is left alone, as the library does."""
    cls = get_fhir_model_class(name)
    checked = {alias or field for field, alias in checked_fields(cls)}
    assert checked
    for field, info in cls.model_fields.items():
        key = info.alias or field
        data = {key: [None]}
        assert _outcome(fast_check, cls, data) == _outcome(library_check, cls, data)
        assert (_outcome(fast_check, cls, data)[0] == "rejected") == (key in checked)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["Condition", "Observation", "CodeableConcept", "Dosage", "MedicationRequest"]),
    picks=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(VALUES)), max_size=6),
    use_alias=st.booleans(),
)
def test_same_answer_as_the_library(name: str, picks: list[tuple[int, Any]], use_alias: bool) -> None:
    """On any mix of fields and values, the fast check keeps or rejects (with the same errors) what the library does."""
    cls = get_fhir_model_class(name)
    fields = list(cls.model_fields.items())
    data = {}
    for position, value in picks:
        field, info = fields[position % len(fields)]
        data[(info.alias or field) if use_alias else field] = value
    assert _outcome(fast_check, cls, data) == _outcome(library_check, cls, data)


def test_a_null_in_a_list_of_codings_is_still_rejected() -> None:
    """Validating a resource with a null coding fails as the library's check makes it fail."""
    with pytest.raises(ValidationError, match="None is not allowed as an element of coding"):
        get_fhir_model_class("CodeableConcept").model_validate({"coding": [None], "text": "x"})
