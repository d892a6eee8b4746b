"""Each FHIR type's model class is looked up once and is the class the library itself names."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import FhirBase

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
