"""Lenient validation of FHIR R4 resources with ``fhir.resources.R4B``.

Real clients are sloppy. A resource that fails validation gets one repair pass for known
quirks (a single object where the spec wants a list, empty objects and strings) and is
validated again; if it still fails it is skipped and logged by type and field path only —
never its values, which may be PHI, nor the names of elements the type does not have (they are the
client's text too). Any failure of validation means "this resource is invalid", not only pydantic's
``ValidationError``: fhir.resources raises ``KeyError`` or ``TypeError`` for a ``contained`` resource
of an unknown type or a ``resourceType`` that is not a string (the exception's type is logged). A
resource nested too deeply to validate (``RecursionError``) is left to the app: a 400.

``parse_resource(raw, expected, elements)`` validates a projection: only the named top-level
elements and those the resource type requires (FHIR cardinality 1..1, with their ``_element``
extension siblings) — validation costs per nested element, and what is never read (narrative,
identifiers, meta, extensions, encounter …) need not be parsed into models at all.

With a ``memo`` (one dict per request), each distinct complex element value — the subject
reference every resource repeats, the same lab code on every eGFR, the same dosage on every
refill — is validated once with its field's type and the model shared; the resource is then
validated around those models by the model's own validator (as ``cls(**data)`` runs it, without
the Python ``__init__`` frames around it; a shared model is taken as itself, see ``modelclass``).
The last ``ELEMENTS_MAX`` element models are also kept per process, keyed by type, element and
exact bytes: the codes, statuses and categories of one patient's record recur in the next one's.
References (``subject``, ``requester`` …) are not: they name this patient's resources, recur in no
other record, and would only push out the elements that do.
Any failure falls back to the plain pass, so what is accepted, repaired or rejected is exactly
what plain validation decides (tests/unit/test_validation_equivalence.py holds it to the library's).

Each process keeps the models of the last ``VALIDATED_MAX`` resources that validated, keyed by the
exact JSON bytes of what was validated (the projection, ``resourceType`` and ``id`` included): an
EHR sends the same record again with every order-select and the order-sign that follows, and the
same bytes validate to the same model. Models are read, never changed, so one can serve every
request that sends those bytes. A resource that fails is validated (and logged) each time.
"""

from __future__ import annotations

import logging
import re
import threading
import typing
from collections.abc import Callable
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.resource import Resource
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import TypeAdapter, ValidationError

log = logging.getLogger(__name__)

_MODELS: dict[str, Any] = {}
_RESOURCES: dict[str, Any] = {}  # resource type name -> its model class (known names only)
_KEPT: dict[tuple[str, frozenset[str]], frozenset[str]] = {}
_LISTS: dict[str, frozenset[str]] = {}
_REFERENCES: dict[str, frozenset[str]] = {}
_ADAPTERS: dict[str, dict[str, TypeAdapter[Any] | None]] = {}
_DIRECT: dict[type, bool] = {}
VALIDATED_MAX = 256  # resource models kept per process (least recently used first out): ~5 MB, 3 ms per full GC
_VALIDATED: dict[bytes, Any] = {}
ELEMENTS_MAX = 512  # element values (with their type and element name) kept per process, likewise
_ELEMENTS: dict[tuple[str, str, bytes], Any] = {}
_KEEPING = threading.Lock()  # hook calls run on the event loop; a thread (a CLI, a test) may validate too
_JSON_ONLY = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # the FHIR id datatype
# Modifier elements change the meaning of a resource: always validated when present.
_ALWAYS = frozenset({"resourceType", "id", "implicitRules", "modifierExtension"})


def model_class(resource_type: str) -> Any:
    """The R4B model for a resource type (cached); KeyError for unknown types."""
    cls = _MODELS.get(resource_type)
    if cls is None:
        try:
            cls = _MODELS[resource_type] = get_fhir_model_class(resource_type)
        except (KeyError, ValueError, ImportError, AttributeError):
            raise KeyError(resource_type) from None
    return cls


def is_fhir_id(value: Any) -> bool:
    """Whether ``value`` is a FHIR ``id``: 1 to 64 letters, digits, ``-`` and ``.`` (fhir.resources lets
    others through: an object of nulls validates to no id at all)."""
    return type(value) is str and _FHIR_ID.fullmatch(value) is not None


def resource_class(resource_type: Any) -> Any | None:
    """The R4B model class of the resource type named ``resource_type``; None for anything else — not
    a string, an unknown name (``condition``, ``Nope``), a data type (``Coding``) or an abstract one."""
    cls = _RESOURCES.get(resource_type) if type(resource_type) is str else None
    if cls is None and type(resource_type) is str:
        try:
            found = model_class(resource_type)
        except KeyError:
            return None
        if not isinstance(found, type) or not issubclass(found, Resource) or found in (Resource, DomainResource):
            return None
        cls = _RESOURCES[resource_type] = found  # known names only: a client's names are not kept
    return cls


def element(model: Any, name: str) -> Any:
    """``getattr(model, name, None)`` for a validated model, without pydantic's slow path (an
    ``AttributeError`` raised and caught) for the names a resource type does not declare: a
    pydantic model keeps its field values in its instance ``__dict__``."""
    return model.__dict__.get(name)


def required_elements(resource_type: str) -> frozenset[str]:
    """The top-level elements the R4B model of a type requires, every choice of a required ``[x]``."""
    required = set()
    for name, info in model_class(resource_type).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if info.is_required() or extra.get("element_required") or extra.get("one_of_many_required"):
            required.add(info.alias or name)
    return frozenset(required)


def kept_elements(resource_type: str, elements: frozenset[str]) -> frozenset[str]:
    """``elements`` with what the type requires and the modifiers, each with its ``_`` sibling (cached)."""
    key = (resource_type, elements)
    kept = _KEPT.get(key)
    if kept is None:
        names = elements | required_elements(resource_type) | _ALWAYS
        kept = _KEPT[key] = frozenset(names | {f"_{name}" for name in names})
    return kept


def _elements_where(kept: dict[str, frozenset[str]], resource_type: str, test: Callable[[Any], bool]) -> frozenset[str]:
    """The top-level elements of a type whose field passes ``test``, worked out once per type into ``kept``."""
    found = kept.get(resource_type)
    if found is None:
        fields = model_class(resource_type).model_fields
        found = kept[resource_type] = frozenset(info.alias or name for name, info in fields.items() if test(info))
    return found


def list_elements(resource_type: str) -> frozenset[str]:
    """The top-level elements of a type whose values are lists (cached)."""
    return _elements_where(_LISTS, resource_type, lambda info: _is_list(info.annotation))


def reference_elements(resource_type: str) -> frozenset[str]:
    """The top-level elements of a type that are References (the model marks them with their target types; cached)."""
    return _elements_where(_REFERENCES, resource_type, _is_reference)


def _is_reference(info: Any) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and "enum_reference_types" in extra


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        return True
    return origin is typing.Union and any(typing.get_origin(arg) is list for arg in typing.get_args(annotation))


def _as_lists(raw: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """Top-level single objects where the type wants a list, wrapped — the commonest client quirk
    (the Sandbox sends ``category`` so) — so such a resource validates in one pass, not two."""
    lists = list_elements(resource_type)
    wrapped = {key: [value] for key, value in raw.items() if type(value) is dict and key in lists}
    return {**raw, **wrapped} if wrapped else raw


def _adapters(resource_type: str) -> dict[str, TypeAdapter[Any] | None]:
    """The element validators of a type made so far, by element name (see ``_adapter``)."""
    return _ADAPTERS.setdefault(resource_type, {})


def _adapter(resource_type: str, element: str) -> TypeAdapter[Any] | None:
    """A validator for one top-level element of a type, as the model validates it (cached)."""
    adapters = _adapters(resource_type)
    if element not in adapters:
        fields = model_class(resource_type).model_fields
        info = next((i for name, i in fields.items() if (i.alias or name) == element), None)
        adapters[element] = TypeAdapter(info.annotation) if info is not None else None
    return adapters[element]


def _direct(cls: Any, resource_type: str) -> bool:
    """Whether ``cls(**data)`` for ``data`` of this resource type is the library's ``__init__`` as this
    module knows it: the model's validator run on ``data`` without ``resourceType`` (cached per class)."""
    direct = _DIRECT.get(cls)
    if direct is None:
        direct = _DIRECT[cls] = (
            cls.__init__ is FHIRAbstractModel.__init__
            and cls.__resource_type__ == resource_type
            and "resourceType" not in cls.model_fields
            and "resource_type" not in cls.model_fields
        )
    return direct


def _with_element_models(raw: dict[str, Any], resource_type: str, cls: Any, memo: dict[Any, Any]) -> Any | None:
    """The model of ``raw`` with each complex element validated once per memo, and the resource then
    validated around those models; None when the plain pass is to decide.

    Top-level single objects where the type wants a list are wrapped, as ``_as_lists`` does. The
    resource is built as ``cls(**data)`` builds it — the model's own validator run on ``data``
    without ``resourceType`` — without the two Python ``__init__`` frames around that call, of
    which the library's only pops ``resourceType`` and checks it: the caller has checked the class
    (``_direct``), that ``resourceType`` is its type and that there is no ``resource_type`` key.
    """
    lists = list_elements(resource_type)
    references = reference_elements(resource_type)
    adapters = _adapters(resource_type)
    values = {}
    for key, value in raw.items():
        kind = type(value)
        if kind is dict:
            if key in lists:
                value = [value]
        elif kind is not list or not value or type(value[0]) is not dict:
            if key != "resourceType":
                values[key] = value
            continue
        adapter = adapters[key] if key in adapters else _adapter(resource_type, key)
        if adapter is not None:  # else not an element of this type: the model rejects it
            memo_key = (resource_type, key, orjson.dumps(value))
            found = memo.get(memo_key)
            if found is None:
                found = memo[memo_key] = adapter.validate_python(value) if key in references else _element(memo_key, adapter, value)
            value = found
        values[key] = value
    model = cls.__new__(cls)
    # ``BaseModel.__init__`` keeps the instance it validated into; a model validator returning
    # another object (none of these models has one) is left to the plain pass.
    return model if cls.__pydantic_validator__.validate_python(values, self_instance=model) is model else None


def _element(key: tuple[str, str, bytes], adapter: TypeAdapter[Any], value: Any) -> Any:
    """The validated model(s) of one element value: kept per process (``ELEMENTS_MAX``), since the
    same codes, statuses and categories recur in every patient's record."""
    found = _recall(_ELEMENTS, key)
    if found is None:
        found = adapter.validate_python(value)  # a failure raises: nothing is kept
        _keep(_ELEMENTS, key, found, ELEMENTS_MAX)
    return found


def _recall(kept: dict[Any, Any], key: Any) -> Any | None:
    """The value kept under ``key`` in one of the per-process caches, now its most recently used; None if not kept."""
    with _KEEPING:
        found = kept.pop(key, None)
        if found is not None:
            kept[key] = found
    return found


def _keep(kept: dict[Any, Any], key: Any, value: Any, size: int) -> None:
    """Keep ``value`` under ``key`` as the most recently used, the least recently used out past ``size``."""
    with _KEEPING:
        while len(kept) >= size:
            del kept[next(iter(kept))]
        kept[key] = value


def parse_resource(
    raw: Any, expected: tuple[str, ...] = (), elements: frozenset[str] | None = None, memo: dict[Any, Any] | None = None
) -> Any | None:
    """A validated R4B model of ``raw``, repaired once if needed; None (logged) when invalid.

    With ``elements``, the model holds only those top-level elements (and what the type
    requires): the others are neither validated nor kept. With ``memo`` (shared by the calls of
    one request), repeated element values are validated once.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("resourceType"), str):
        log.warning("skipped resource: not a FHIR resource object")
        return None
    resource_type = raw["resourceType"]
    cls = resource_class(resource_type)
    if cls is None:  # the name is the client's text: not logged
        log.warning("skipped resource: unknown type")
        return None
    if expected and resource_type not in expected:
        log.warning("skipped resource: unexpected type", extra={"resource_type": resource_type})
        return None
    if elements is not None:
        kept = kept_elements(resource_type, elements)
        raw = {key: value for key, value in raw.items() if key in kept}
    try:
        key = orjson.dumps(raw, option=_JSON_ONLY)
    except TypeError:  # not plain JSON (dates, dataclasses … from Python callers): validated, never kept
        return _validated(raw, resource_type, cls, memo)
    model = _recall(_VALIDATED, key)
    if model is None:
        model = _validated(raw, resource_type, cls, memo)
        if model is not None:
            _keep(_VALIDATED, key, model, VALIDATED_MAX)
    return model


def clear_validated() -> None:
    """Forget every kept model (tests that count validations start from here)."""
    with _KEEPING:
        _VALIDATED.clear()
        _ELEMENTS.clear()


def _validated(raw: dict[str, Any], resource_type: str, cls: Any, memo: dict[Any, Any] | None) -> Any | None:
    """``parse_resource`` on the projected ``raw``, without the kept models."""
    if memo is not None and _direct(cls, resource_type) and "resource_type" not in raw:
        try:
            model = _with_element_models(raw, resource_type, cls, memo)
        except RecursionError:
            raise
        except Exception:  # whatever failed, the plain pass below decides: it repairs what it can and logs what it cannot
            model = None
        if model is not None:
            return model
    raw = _as_lists(raw, resource_type)
    model, error = _attempt(cls, raw)
    if isinstance(error, ValidationError):
        repaired = _repair(raw, error)
        if repaired is not None:
            model, error = _attempt(cls, repaired)
    if error is None:
        return model
    fields = sorted({_path(e) for e in error.errors()})[:10] if isinstance(error, ValidationError) else []
    log.warning(
        "skipped invalid resource",
        extra={"resource_type": resource_type, "fields": fields, "error_type": type(error).__name__},
    )
    return None


def _attempt(cls: Any, raw: dict[str, Any]) -> tuple[Any | None, Exception | None]:
    """``cls.model_validate(raw)``, or the exception that stopped it. Any exception means the resource is
    invalid: fhir.resources raises ``KeyError`` or ``TypeError``, not a ``ValidationError``, for a
    ``contained`` resource whose ``resourceType`` is unknown or not a string. Only a ``RecursionError``
    (nested too deeply to validate at all) goes up, to be answered 400."""
    try:
        return cls.model_validate(raw), None
    except RecursionError:
        raise
    except Exception as exc:
        return None, exc


UNKNOWN_ELEMENT = "(unknown element)"


def _path(error: Any) -> str:
    """The field path of one pydantic error, list positions left out; an element the type does not have
    is named ``(unknown element)``: its name is the client's text."""
    loc = tuple(error["loc"])
    if error.get("type") == "extra_forbidden" and loc:
        loc = (*loc[:-1], UNKNOWN_ELEMENT)
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
