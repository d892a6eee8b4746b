"""The model class behind each FHIR type, looked up once per type; a model of that class passed as itself.

Validating an element of a complex type (a Coding, a Reference, a Period …), ``fhir_core`` asks the
type for its model class (``FhirBase.get_model_klass``: an import by dotted name). The library
caches that lookup in an ``lru_cache`` of 128 entries, shared by the 683 FHIR types of the R4B
models: a record with a few dozen kinds of element evicts and re-imports on nearly every element.
``install()`` keeps the answer per type for the life of the process (the types, and their classes,
are fixed when the models are imported); the lookup itself is the library's.

An element value that already is a model of exactly its type's class (one validated earlier and
shared: parse.py's memo) is returned as itself by the library's validator for the type, a Python
function around pydantic-core's ``any`` schema, after checking the class and the resource type.
``install()`` also makes each type's validator return such a model at once and hand any other value
to the library's function, which decides (a dict, a JSON string, a model of another class …): the
model classes built from then on validate elements exactly as the library's do, a shared model at
about a third of the cost. Like ``nullcheck``, that part must run before the model classes exist.
"""

from __future__ import annotations

from typing import Any

from fhir_core.types import FhirBase

_DECLARED = FhirBase.__dict__.get("get_model_klass")
# The library's lookup, (cls) -> model class; None if a fhir_core release changed it (then ``install`` does nothing).
_LIBRARY = _DECLARED.__func__ if isinstance(_DECLARED, classmethod) else None
_CLASSES: dict[type, Any] = {}
_SCHEMA = FhirBase.__dict__.get("__get_pydantic_core_schema__")
# The library's schema of an element type, (cls, source_type, handler) -> core schema; None if changed.
_LIBRARY_SCHEMA = _SCHEMA.__func__ if isinstance(_SCHEMA, classmethod) else None
_CHECK = FhirBase.__dict__.get("fhir_model_validator")
_LIBRARY_CHECK = _CHECK.__func__ if isinstance(_CHECK, classmethod) else None


def model_class_of(cls: type) -> Any:
    """The model class of the FHIR type ``cls``: the library's answer, kept."""
    found = _CLASSES.get(cls)
    if found is None:
        found = _CLASSES[cls] = _LIBRARY(cls)  # type: ignore[misc]  # installed only when the library's exists
    return found


def element_schema(cls: Any, source_type: Any, handler: Any) -> Any:
    """The library's core schema for an element of the FHIR type ``cls``, its validator returning a
    model of exactly the type's class as itself. The library's own schema where it is not the plain
    case this was checked against (a validator around ``any``, the base class's model check)."""
    schema = _LIBRARY_SCHEMA(cls, source_type, handler)  # type: ignore[misc]  # installed only when the library's exists
    function = schema.get("function") if schema.get("type") == "function-wrap" else None
    check = getattr(cls.fhir_model_validator, "__func__", None)
    if not isinstance(function, dict) or schema["schema"].get("type") != "any" or check is not _LIBRARY_CHECK:
        return schema
    library = function["function"]
    kept: list[Any] = []  # the type's model class, once looked up

    def validate(value: Any, inner: Any) -> Any:
        if not kept:
            kept.append(source_type.get_model_klass())
        if type(value) is kept[0]:
            return value  # what the library returns for it: its checks pass, and ``any`` keeps the value
        return library(value, inner, None)  # the library's function reads no validation info

    return {**schema, "function": {"type": "no-info", "function": validate}}


def install() -> None:
    """Make ``FhirBase.get_model_klass`` keep its answers, and the element types' schemas built from
    now on ``element_schema`` (idempotent; each part nothing if the library changed what it replaces)."""
    if _LIBRARY is not None and _LIBRARY is not model_class_of:
        FhirBase.get_model_klass = classmethod(model_class_of)  # type: ignore[method-assign, assignment]
    if _LIBRARY_SCHEMA is not None and _LIBRARY_CHECK is not None:
        FhirBase.__get_pydantic_core_schema__ = classmethod(element_schema)  # type: ignore[method-assign, assignment]


def installed() -> bool:
    """Whether ``FhirBase.get_model_klass`` is the kept lookup."""
    declared = FhirBase.__dict__.get("get_model_klass")
    return isinstance(declared, classmethod) and declared.__func__ is model_class_of
