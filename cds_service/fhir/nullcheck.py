"""The same null check as ``fhir_core``, a quarter of the validation cost cheaper.

Every ``fhir.resources`` model runs ``FHIRAbstractModel.reject_null_complex_elements`` before
validating: "no null inside a list of complex elements". As shipped (fhir_core 1.1), it walks all
of the model's fields and classifies each one's type on every call — for every nested element
(each Coding, each CodeableConcept), about a quarter of the time it takes to validate a resource.

``install()`` swaps in a check that reads, per model class, the precomputed list of the fields
that check applies to, and hands any data holding such a null to the library's own check, so
what is rejected, and the error raised, are exactly the library's. It must run before the model
classes are created (pydantic binds validators then, and a subclass inherits its base's): the
package's ``__init__`` calls it, the one place that runs before anything of ``fhir.resources`` is
imported in every process (service workers, the command line, tests). ``state()`` says, from a real
model class, whether it took effect — ``fast``, or why the library's own check serves
(``library-changed``: fhir_core renamed what it replaces; ``models-built-first``: some model
classes existed before ``install``) — and the service logs it at start-up. Either way validation
is the library's: only its cost differs. fhir-core is pinned (pyproject.toml) to the release this
was checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhir_core import fhirabstractmodel
from pydantic import model_validator

_NAME = "reject_null_complex_elements"
# The library's function (cls, data) -> data; None if a fhir_core release renamed it, and then
# ``install`` leaves the library as it is (tests/unit/test_fhir_nullcheck.py fails to say so).
library_check = getattr(fhirabstractmodel.FHIRAbstractModel.__dict__.get(_NAME), "__func__", None)
_CHECKED: dict[type, tuple[tuple[str, str | None], ...]] = {}
_KEYS: dict[type, frozenset[str]] = {}
_is_list_type: Callable[[Any], bool] = getattr(fhirabstractmodel, "is_list_type", lambda field: False)
_is_primitive_type: Callable[[Any], bool] = getattr(fhirabstractmodel, "is_primitive_type", lambda field: False)


def checked_fields(cls: Any) -> tuple[tuple[str, str | None], ...]:
    """(name, alias) of each field the library's check looks at: lists of complex elements,
    except the ``__ext`` siblings of primitive lists (cached per model class)."""
    fields = _CHECKED.get(cls)
    if fields is None:
        fields = _CHECKED[cls] = tuple(
            (name, field.alias)
            for name, field in cls.model_fields.items()
            if _is_list_type(field)
            and not _is_primitive_type(field)
            and not name.endswith("__ext")
        )
    return fields


def checked_keys(cls: Any) -> frozenset[str]:
    """The keys under which data may hold a checked field: each one's name and alias (cached per model class)."""
    keys = _KEYS.get(cls)
    if keys is None:
        keys = _KEYS[cls] = frozenset(key for name, alias in checked_fields(cls) for key in (name, alias) if key)
    return keys


def fast_check(cls: Any, data: Any) -> Any:
    """``library_check(cls, data)``: ``data`` when no checked list holds a null, else the library's error."""
    if not isinstance(data, dict):
        return data
    keys = checked_keys(cls)
    if keys.isdisjoint(data):  # the usual case: data (a few keys) holds no checked field
        return data
    for key in data:
        # ``in`` tests identity first: a null is always found; anything else it matches (or a checked
        # field under both its name and alias) is only handed to the library's check, which decides.
        if key in keys:
            value = data[key]
            if isinstance(value, list) and None in value:
                return library_check(cls, data) if library_check is not None else data  # raises the library's own ValidationError
    return data


def install() -> bool:
    """Make every model class created from now on use ``fast_check`` (idempotent); False when the
    library no longer has what it replaces (the library's check then serves)."""
    if library_check is None or not hasattr(fhirabstractmodel, "is_list_type"):
        return False
    current = fhirabstractmodel.FHIRAbstractModel.__dict__[_NAME]
    if getattr(getattr(current, "wrapped", current), "__func__", None) is fast_check:
        return True
    validator = model_validator(mode="before")(classmethod(fast_check))  # type: ignore[arg-type]
    setattr(fhirabstractmodel.FHIRAbstractModel, _NAME, validator)
    return True


def state() -> str:
    """``fast`` when the service's models run ``fast_check``, else why not (see the module's doc)."""
    if library_check is None or not hasattr(fhirabstractmodel, "is_list_type"):
        return "library-changed"
    from fhir.resources.R4B import get_fhir_model_class

    return "fast" if installed(get_fhir_model_class("Condition")) else "models-built-first"


def installed(model: Any) -> bool:
    """Whether ``model`` (a class) runs ``fast_check`` as its null check."""
    decorator = model.__pydantic_decorators__.model_validators.get(_NAME)
    return decorator is not None and getattr(decorator.func, "__func__", None) is fast_check
