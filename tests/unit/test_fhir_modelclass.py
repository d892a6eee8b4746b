"""Each FHIR type's model class is looked up once and is the class the library itself names; a model of it passes as itself."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import FhirBase
from pydantic import ValidationError

from cds_service.fhir import modelclass


def _types() -> list[type]:
    found: list[type] = []
    pending = list(FhirBase.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if isinstance(getattr(cls, "_model_klass", None), str)]


def test_the_kept_lookup_is_installed() -> None:
    """Importing the service installs the kept lookup on the library's FHIR types."""
    assert modelclass.installed()


@pytest.mark.parametrize("name", ["Coding", "CodeableConcept", "Reference", "Period", "Dosage", "Condition"])
def test_kept_lookup_names_the_library_class(name: str) -> None:
    """The kept answer for a type is the model class fhir.resources gives for that type's name."""
    assert FhirBase.get_model_klass.__func__ is modelclass.model_class_of  # type: ignore[attr-defined]
    (fhir_type,) = [cls for cls in _types() if cls._model_klass.endswith(f".{name}")]  # type: ignore[attr-defined]
    assert fhir_type.get_model_klass() is get_fhir_model_class(name)


def test_every_type_keeps_its_own_class() -> None:
    """All of the library's several hundred types keep their answers side by side, none evicting another."""
    types = _types()
    assert len(types) > 128  # more than the library's own cache holds
    first = {cls: cls.get_model_klass() for cls in types}
    assert all(cls.get_model_klass() is first[cls] for cls in types)
    assert all(modelclass._CLASSES[cls] is first[cls] for cls in types)
    assert all(first[cls] is modelclass._LIBRARY(cls) for cls in types)


def _library_checks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The values the library's model check (``FhirBase.fhir_model_validator``) is asked about from now on."""
    seen: list[Any] = []
    library = FhirBase.fhir_model_validator.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, value: Any, model_klass: Any) -> Any:
        seen.append(value)
        return library(cls, value, model_klass)

    monkeypatch.setattr(FhirBase, "fhir_model_validator", classmethod(counting))
    return seen


def test_a_model_of_the_element_class_is_taken_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared Reference model is the Condition's subject as it is, without the library's model check."""
    checks = _library_checks(monkeypatch)
    subject = get_fhir_model_class("Reference")(reference="Patient/p1")
    condition = get_fhir_model_class("Condition")(subject=subject)
    assert condition.subject is subject and checks == []


def test_other_values_go_to_the_library_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dict is validated by the library's check, and a model of another class rejected by it with its own error."""
    checks = _library_checks(monkeypatch)
    condition = get_fhir_model_class("Condition").model_validate({"subject": {"reference": "Patient/p1"}})
    assert condition.subject.reference == "Patient/p1" and checks == [{"reference": "Patient/p1"}]
    coding = get_fhir_model_class("Coding")(code="x")
    with pytest.raises(ValidationError) as raised:
        get_fhir_model_class("Condition")(subject=coding)
    assert [e["type"] for e in raised.value.errors()] == ["model_validation_format"] and checks[-1] is coding


def test_models_imported_first_thing_take_element_models_as_themselves() -> None:
    """A process importing the service package first builds its FHIR models with ``element_schema``."""
    code = ("from cds_service.fhir.parse import model_class; "
            "assert 'element_schema.<locals>.validate' in repr(model_class('Condition').__pydantic_core_schema__)")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)
