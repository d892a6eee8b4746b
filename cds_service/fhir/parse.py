"""Lenient validation of FHIR R4 resources with ``fhir.resources.R4B``.

Real clients are sloppy. A resource that fails validation gets one repair pass for known
quirks (a single object where the spec wants a list, empty objects and strings) and is
validated again; if it still fails it is skipped and logged by type and field path only —
never its values, which may be PHI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

log = logging.getLogger(__name__)

_MODELS: dict[str, Any] = {}


def model_class(resource_type: str) -> Any:
    """The R4B model for a resource type (cached); KeyError for unknown types."""
    cls = _MODELS.get(resource_type)
    if cls is None:
        try:
            cls = _MODELS[resource_type] = get_fhir_model_class(resource_type)
        except (KeyError, ValueError, ImportError, AttributeError):
            raise KeyError(resource_type) from None
    return cls


def parse_resource(raw: Any, expected: tuple[str, ...] = ()) -> Any | None:
    """A validated R4B model of ``raw``, repaired once if needed; None (logged) when invalid."""
    if not isinstance(raw, dict) or not isinstance(raw.get("resourceType"), str):
        log.warning("skipped resource: not a FHIR resource object")
        return None
    resource_type = raw["resourceType"]
    if expected and resource_type not in expected:
        log.warning("skipped resource: unexpected type", extra={"resource_type": resource_type})
        return None
    try:
        cls = model_class(resource_type)
    except KeyError:
        log.warning("skipped resource: unknown type", extra={"resource_type": resource_type})
        return None
    try:
        return cls.model_validate(raw)
    except ValidationError as first:
        repaired = _repair(raw, first)
        if repaired is not None:
            try:
                return cls.model_validate(repaired)
            except ValidationError as second:
                first = second
        log.warning(
            "skipped invalid resource",
            extra={"resource_type": resource_type, "fields": sorted({_path(e["loc"]) for e in first.errors()})[:10]},
        )
        return None


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int))


def _repair(raw: dict[str, Any], error: ValidationError) -> dict[str, Any] | None:
    """Fix what sloppy clients send: objects for lists; drop empty values."""
    fixed = _prune(raw)
    changed = fixed != raw
    for err in error.errors():
        if err.get("type") == "list_type":
            changed |= _apply(fixed, err["loc"], lambda v: [v] if isinstance(v, dict) else v)
    return fixed if changed else None


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], "", None)}
    if isinstance(value, list):
        items = [_prune(v) for v in value]
        return [v for v in items if v not in ({}, [], "", None)]
    return value


def _apply(node: Any, loc: tuple[Any, ...], fix: Callable[[Any], Any]) -> bool:
    for i, key in enumerate(loc[:-1]):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
        del i
    last = loc[-1] if loc else None
    if isinstance(node, dict) and last in node:
        new = fix(node[last])
        if new is not node[last]:
            node[last] = new
            return True
    return False
