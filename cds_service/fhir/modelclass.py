"""The model class behind each FHIR type, looked up once per type.

Validating an element of a complex type (a Coding, a Reference, a Period …), ``fhir_core`` asks the
type for its model class (``FhirBase.get_model_klass``: an import by dotted name). The library
caches that lookup in an ``lru_cache`` of 128 entries, shared by the 683 FHIR types of the R4B
models: a record with a few dozen kinds of element evicts and re-imports on nearly every element.
``install()`` keeps the answer per type for the life of the process (the types, and their classes,
are fixed when the models are imported); the lookup itself is the library's.
"""

from __future__ import annotations

from typing import Any

from fhir_core.types import FhirBase

_DECLARED = FhirBase.__dict__.get("get_model_klass")
# The library's lookup, (cls) -> model class; None if a fhir_core release changed it (then ``install`` does nothing).
_LIBRARY = _DECLARED.__func__ if isinstance(_DECLARED, classmethod) else None
_CLASSES: dict[type, Any] = {}


def model_class_of(cls: type) -> Any:
    """The model class of the FHIR type ``cls``: the library's answer, kept."""
    found = _CLASSES.get(cls)
    if found is None:
        found = _CLASSES[cls] = _LIBRARY(cls)  # type: ignore[misc]  # installed only when the library's exists
    return found


def install() -> None:
    """Make ``FhirBase.get_model_klass`` keep its answers (idempotent; nothing if the library changed it)."""
    if _LIBRARY is not None and _LIBRARY is not model_class_of:
        FhirBase.get_model_klass = classmethod(model_class_of)  # type: ignore[method-assign, assignment]


def installed() -> bool:
    """Whether ``FhirBase.get_model_klass`` is the kept lookup."""
    declared = FhirBase.__dict__.get("get_model_klass")
    return isinstance(declared, classmethod) and declared.__func__ is model_class_of
