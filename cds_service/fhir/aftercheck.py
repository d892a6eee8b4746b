"""The same after-construction check as ``fhir_core``, with each model class's field lists worked out once.

After building every model (each resource and each nested Coding, CodeableConcept, Reference …),
``FHIRAbstractModel.validate_after_model_construction`` checks that each required primitive element
is present (or has an extension saying why not) and that at most one choice of each ``[x]`` element
is set (exactly one when required). As shipped (fhir_core 1.1) it rebuilds the class's required
fields, its choice groups and a name-to-field mapping of all its fields on every call: about a
sixth of the time it takes to validate a resource.

``install()`` swaps in a check that reads those lists, per model class, from a plan made once, and
hands any model that the plan does not plainly pass (a required element missing, two choices or
none of a required one) to the library's own check: what is rejected, and the error, are exactly
the library's. Like ``nullcheck``, it must run before the model classes are created.
"""

from __future__ import annotations

from typing import Any

from fhir_core import fhirabstractmodel
from pydantic import model_validator

_NAME = "validate_after_model_construction"
_BASE = fhirabstractmodel.FHIRAbstractModel
# The library's method (self) -> self; None if a fhir_core release renamed it (then ``install`` does nothing).
library_check = _BASE.__dict__.get(_NAME)
_Plan = tuple[tuple[str, ...], tuple[tuple[tuple[str, ...], bool], ...]] | None
_PLANS: dict[type, _Plan] = {}


def plan(model: Any) -> _Plan:
    """(required field names, (choice group field names, required) …) of ``model``'s class, made once;
    None when the class checks differently from the library's base class (then the library decides)."""
    cls = type(model)
    if cls in _PLANS:
        return _PLANS[cls]
    found: _Plan = None
    if (
        getattr(cls, "_validate_required_primitive_elements", None) is _BASE._validate_required_primitive_elements
        and getattr(cls, "_validate_one_of_many", None) is _BASE._validate_one_of_many
    ):
        aliases = cls.get_alias_mapping()
        names = [name for name, _ in model.get_required_fields()]
        groups = model.get_one_of_many_fields()
        if all(name in aliases for name in names) and all(fields for fields in groups.values()):
            required = tuple(aliases[name] for name in names)
            choices = tuple(
                (tuple(fields), cls.model_fields[fields[0]].json_schema_extra["one_of_many_required"] is True)
                for fields in groups.values()
            )
            found = (required, choices)
    _PLANS[cls] = found
    return found


def fast_check(self: Any) -> Any:
    """``library_check(self)``: ``self`` when every required element is set and every choice group holds
    one value (at most one when optional); anything else is decided, and reported, by the library."""
    checks = plan(self)
    if checks is None:
        return library_check(self)  # type: ignore[misc]
    values = self.__dict__
    required, choices = checks
    for name in required:
        if values.get(name) is None:
            return library_check(self)  # type: ignore[misc]
    for fields, needed in choices:
        count = 0
        for name in fields:
            if values.get(name) is not None:
                count += 1
        if count > 1 or (needed and count == 0):
            return library_check(self)  # type: ignore[misc]
    return self


def install() -> None:
    """Make every model class created from now on use ``fast_check`` (idempotent)."""
    if library_check is None or library_check is fast_check or not callable(library_check):
        return
    current = _BASE.__dict__[_NAME]
    if getattr(current, "wrapped", current) is fast_check:
        return
    setattr(_BASE, _NAME, model_validator(mode="after")(fast_check))


def installed(model: Any) -> bool:
    """Whether ``model`` (a class) runs ``fast_check`` after construction."""
    decorator = model.__pydantic_decorators__.model_validators.get(_NAME)
    return decorator is not None and decorator.func is fast_check
