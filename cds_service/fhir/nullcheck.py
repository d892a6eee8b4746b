"""The same null check as ``fhir_core``, a quarter of the validation cost cheaper.

Every ``fhir.resources`` model runs ``FHIRAbstractModel.reject_null_complex_elements`` before
validating: "no null inside a list of complex elements". As shipped (fhir_core 1.1), it walks all
of the model's fields and classifies each one's type on every call — for every nested element
(each Coding, each CodeableConcept), about a quarter of the time it takes to validate a resource.

``install()`` swaps in a check that reads, per model class, the precomputed list of the fields
that check applies to, and hands any data holding such a null to the library's own check, so
what is rejected, and the error raised, are exactly the library's. It must run before the model
classes are created (pydantic binds validators then): ``cds_service/__init__.py`` calls it, before
anything of ``fhir.resources`` is imported. ``installed(model)`` says whether a model uses it.
"""

from __future__ import annotations

from typing import Any

from fhir_core import fhirabstractmodel
from pydantic import model_validator

_NAME = "reject_null_complex_elements"
# The library's function (cls, data) -> data; None if a fhir_core release renamed it, and then
# ``install`` leaves the library as it is (tests/unit/test_fhir_nullcheck.py fails to say so).
library_check = getattr(fhirabstractmodel.FHIRAbstractModel.__dict__.get(_NAME), "__func__", None)
_CHECKED: dict[type, tuple[tuple[str, str | None], ...]] = {}


def checked_fields(cls: Any) -> tuple[tuple[str, str | None], ...]:
    """(name, alias) of each field the library's check looks at: lists of complex elements,
    except the ``__ext`` siblings of primitive lists (cached per model class)."""
    fields = _CHECKED.get(cls)
    if fields is None:
        fields = _CHECKED[cls] = tuple(
            (name, field.alias)
            for name, field in cls.model_fields.items()
            if fhirabstractmodel.is_list_type(field)
            and not fhirabstractmodel.is_primitive_type(field)
            and not name.endswith("__ext")
        )
    return fields


def fast_check(cls: Any, data: Any) -> Any:
    """``library_check(cls, data)``: ``data`` when no checked list holds a null, else the library's error."""
    if not isinstance(data, dict):
        return data
    for name, alias in checked_fields(cls):
        value = data.get(alias if alias and alias in data else name)
        # ``in`` tests identity first: a null is always found; anything else it matches is
        # only handed to the library's check, which decides.
        if isinstance(value, list) and None in value:
            return library_check(cls, data)  # raises the library's own ValidationError
    return data



def install() -> None:
    """Make every model class created from now on use ``fast_check`` (idempotent)."""
    if library_check is None or not hasattr(fhirabstractmodel, "is_list_type"):
        return
    current = fhirabstractmodel.FHIRAbstractModel.__dict__[_NAME]
    if getattr(getattr(current, "wrapped", current), "__func__", None) is fast_check:
        return
    setattr(fhirabstractmodel.FHIRAbstractModel, _NAME, model_validator(mode="before")(classmethod(fast_check)))


def installed(model: Any) -> bool:
    """Whether ``model`` (a class) runs ``fast_check`` as its null check."""
    decorator = model.__pydantic_decorators__.model_validators.get(_NAME)
    return decorator is not None and getattr(decorator.func, "__func__", None) is fast_check
