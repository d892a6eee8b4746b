"""FHIR ValueSet files -> compiled, constant-time membership tests.

Each ``*.json`` file in a directory is one FHIR R4 ValueSet. It is validated with
``fhir.resources`` plus the rules this service relies on:

- ``id`` equals the file stem and ``url`` is ``<canonical base>/ValueSet/<id>`` (``canonical.py``);
- ``version`` is MAJOR.MINOR.PATCH;
- ids are unique across files;
- ``compose.include`` is non-empty; every include/exclude names a known system (under any name
  ``canonical_system`` knows; compiled under its canonical URL) and holds either
  ``concept`` codes or exactly one ``filter`` (FHIR combines several filters with AND, which this
  service does not evaluate);
- the only filter is ``{"property": "concept", "op": "is-a", "value": <code>}`` on ICD-10-CM or
  ICD-10-PCS, where it means the code and every code that starts with it;
- provenance (``provenance.py``), where present, is well formed: every source extension has its
  parts, and an include's ``valueSet`` is one source the value set declares (url and version), on
  an include that lists its codes and holds no hand-added one. Membership is the listed codes (and
  is-a roots) alone: the referenced value set is never treated as "any of its codes".

Imported value sets list thousands of concepts. The resource is validated with ``fhir.resources``
without its plain concepts (those holding only ``code`` and ``display``), which are checked here
against the same FHIR rules (a ``code`` is a non-empty token without leading, trailing or double
whitespace; a ``display`` a non-empty string): the same verdict at a fraction of the cost.

Any problem raises `TerminologyError` with the file and the line of the offending element.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pydantic
from fhir.resources.R4B.valueset import ValueSet

from cds_service.terminology.canonical import CanonicalBase, DEFAULT_CANONICAL, VERSION_PATTERN, versioned
from cds_service.terminology.errors import TerminologyError
from cds_service.terminology.jsonpos import line_of
from cds_service.terminology.provenance import source_problems
from cds_service.terminology.systems import (
    HIERARCHICAL_SYSTEMS,
    KNOWN_SYSTEMS,
    RXNORM,
    canonical_system,
    normalize_code,
)

_STATUSES = frozenset({"draft", "active", "retired", "unknown"})
_PLAIN_KEYS = frozenset({"code", "display"})
_FHIR_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_VERSION = re.compile(VERSION_PATTERN)

Coding = tuple[str | None, str | None]


@dataclass(frozen=True, slots=True)
class _Members:
    """Codes of one compose part (include or exclude), compiled for lookup."""

    codes: frozenset[tuple[str, str]] = frozenset()
    prefixes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __contains__(self, item: tuple[str, str]) -> bool:
        if item in self.codes:
            return True
        prefixes = self.prefixes.get(item[0])
        return prefixes is not None and item[1].startswith(prefixes)

    def __bool__(self) -> bool:
        return bool(self.codes or self.prefixes)


@dataclass(frozen=True, slots=True)
class CompiledValueSet:
    """A value set ready for fast membership tests."""

    id: str
    url: str
    version: str
    title: str
    systems: frozenset[str]
    _include: _Members
    _exclude: _Members
    _listed: tuple[tuple[str, str], ...]
    _is_a: tuple[tuple[str, str], ...]
    # The displays of its RxNorm members, as written: the drug names a medication's text may use.
    drug_displays: tuple[str, ...] = ()

    @property
    def canonical(self) -> str:
        """``url|version``: how other artifacts reference this version of the value set."""
        return versioned(self.url, self.version)

    def contains(self, system: str | None, code: str | None) -> bool:
        """Whether the coding ``(system, code)`` is a member (aliases and ICD dots tolerated)."""
        if not system or not code:
            return False
        system = canonical_system(system)
        item = (system, normalize_code(system, code))
        if item not in self._include:
            return False
        return not (self._exclude and item in self._exclude)

    def matches_any(self, codings: Iterable[Coding]) -> bool:
        """Whether any ``(system, code)`` pair in ``codings`` is a member."""
        return any(self.contains(system, code) for system, code in codings)

    def codes(self) -> Iterator[tuple[str, str]]:
        """The explicitly listed ``(system, code)`` pairs, as written (is-a roots not included)."""
        return iter(self._listed)

    def is_a_roots(self) -> Iterator[tuple[str, str]]:
        """The ``(system, code)`` roots of is-a filters (each stands for itself and its descendants)."""
        return iter(self._is_a)


def load_valuesets(directory: Path, base: CanonicalBase = DEFAULT_CANONICAL) -> dict[str, CompiledValueSet]:
    """Load, validate and compile every ``*.json`` value set in ``directory``, keyed by id; urls under ``base``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TerminologyError(directory, 0, "value set directory not found")
    compiled: dict[str, CompiledValueSet] = {}
    origins: dict[str, Path] = {}
    for path in sorted(directory.glob("*.json")):
        valueset = load_valueset_file(path, base)
        if valueset.id in compiled:
            text = path.read_text(encoding="utf-8")
            raise TerminologyError(
                path, line_of(text, ["id"]), f"duplicate value set id {valueset.id!r} (also in {origins[valueset.id].name})"
            )
        compiled[valueset.id] = valueset
        origins[valueset.id] = path
    if not compiled:
        raise TerminologyError(directory, 0, "no value set files (*.json) found")
    return compiled


def load_valueset_file(path: Path, base: CanonicalBase = DEFAULT_CANONICAL) -> CompiledValueSet:
    """Load, validate and compile one value set file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TerminologyError(path, 0, f"cannot read file: {exc}") from None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise TerminologyError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    return compile_valueset(path, text, data, base)


def compile_valueset(path: Path, text: str, data: Any, base: CanonicalBase = DEFAULT_CANONICAL) -> CompiledValueSet:
    """Validate and compile the parsed value set ``data`` read as ``text`` from ``path`` (its url under ``base``)."""
    return _Compiler(path, text, data, base).compile()


class _Compiler:
    def __init__(self, path: Path, text: str, data: Any, base: CanonicalBase) -> None:
        self.path, self.text, self.data, self.base = path, text, data, base

    def fail(self, loc: Sequence[str | int], message: str) -> TerminologyError:
        return TerminologyError(self.path, line_of(self.text, loc), message)

    def invalid(self, loc: Sequence[str | int], message: str) -> TerminologyError:
        """A FHIR validation failure at ``loc``, worded the same whichever check found it."""
        return self.fail(loc, f"invalid ValueSet at {'.'.join(map(str, loc)) or '(root)'}: {message}")

    def compile(self) -> CompiledValueSet:
        data = self.data
        if not isinstance(data, dict) or data.get("resourceType") != "ValueSet":
            raise self.fail(["resourceType"], "not a FHIR ValueSet (resourceType must be 'ValueSet')")
        self.validate(data)
        vid = data.get("id")
        if vid != self.path.stem:
            raise self.fail(["id"], f"id {vid!r} must equal the file name stem {self.path.stem!r}")
        if data.get("url") != self.base.valueset(vid):
            raise self.fail(["url"], f"url must be {self.base.valueset(vid)!r} (canonical_base in _content.yaml, then ValueSet/<id>)")
        version = data.get("version")
        if not isinstance(version, str) or not _VERSION.match(version):
            raise self.fail(["version"] if "version" in data else ["url"], f"version must be MAJOR.MINOR.PATCH, not {version!r}")
        if data.get("status") not in _STATUSES:
            raise self.fail(["status"], f"status must be one of {sorted(_STATUSES)}")
        for loc, message in source_problems(data):
            raise self.fail(loc, message)
        compose = data.get("compose") or {}
        if not compose.get("include"):
            raise self.fail(["compose"], "compose.include must list at least one include")
        listed: list[tuple[str, str]] = []
        is_a: list[tuple[str, str]] = []
        include = self.members("include", compose["include"], listed, is_a)
        exclude = self.members("exclude", compose.get("exclude") or [], [], [])
        return CompiledValueSet(
            id=vid,
            url=data["url"],
            version=version,
            title=data.get("title") or data.get("name") or vid,
            systems=frozenset(system for system, _ in listed) | frozenset(system for system, _ in is_a),
            _include=include,
            _exclude=exclude,
            _listed=tuple(dict.fromkeys(listed)),
            _is_a=tuple(dict.fromkeys(is_a)),
            drug_displays=tuple(
                concept["display"]
                for entry in compose["include"]
                if canonical_system(entry.get("system") or "") == RXNORM
                for concept in entry.get("concept") or []
                if isinstance(concept.get("display"), str)
            ),
        )

    def validate(self, data: dict[str, Any]) -> None:
        """FHIR validation: the resource without its plain concepts by the model, those by `plain_concept`."""
        shell = data
        compose = data.get("compose")
        if isinstance(compose, dict):
            parts = {}
            for part in ("include", "exclude"):
                entries = compose.get(part)
                if isinstance(entries, list):
                    parts[part] = [self.shell_entry(part, index, entry) for index, entry in enumerate(entries)]
            shell = {**data, "compose": {**compose, **parts}}
        try:
            ValueSet.model_validate(shell)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            loc = [part for part in error["loc"] if isinstance(part, (str, int))]
            raise self.invalid(loc, error["msg"]) from None

    def shell_entry(self, part: str, index: int, entry: Any) -> Any:
        """``entry`` without its plain concepts (one is kept: an include needs a concept or a filter)."""
        concepts = entry.get("concept") if isinstance(entry, dict) else None
        if not isinstance(concepts, list) or len(concepts) < 2:
            return entry
        kept = [c for i, c in enumerate(concepts) if not self.plain_concept(c, ("compose", part, index, "concept", i))]
        return {**entry, "concept": kept or concepts[:1]}

    def plain_concept(self, concept: Any, loc: tuple[str | int, ...]) -> bool:
        """Whether ``concept`` holds only a valid code and display (False: the model validates it)."""
        if type(concept) is not dict or not concept.keys() <= _PLAIN_KEYS:
            return False
        code, display = concept.get("code"), concept.get("display", "-")
        if type(code) is not str or not _FHIR_CODE.fullmatch(code):
            raise self.invalid([*loc, "code"], "code must be a non-empty FHIR code")
        if type(display) is not str or not display.strip():
            raise self.invalid([*loc, "display"], "display must be a non-empty string")
        return True

    def members(
        self, part: str, entries: list[dict[str, Any]], listed: list[tuple[str, str]], is_a: list[tuple[str, str]]
    ) -> _Members:
        codes: set[tuple[str, str]] = set()
        prefixes: dict[str, list[str]] = {}
        for index, entry in enumerate(entries):
            loc: list[str | int] = ["compose", part, index]
            named = entry.get("system")
            system = canonical_system(named) if isinstance(named, str) else ""
            if system not in KNOWN_SYSTEMS:
                raise self.fail([*loc, "system"], f"unknown or missing code system {named!r}")
            concepts, filters = entry.get("concept") or [], entry.get("filter") or []
            if bool(concepts) == bool(filters):
                raise self.fail(loc, f"each {part} needs either concept codes or one filter (not both, not neither)")
            for cindex, concept in enumerate(concepts):
                code = (concept.get("code") or "").strip()
                if not code:
                    raise self.fail([*loc, "concept", cindex, "code"], "empty code")
                codes.add((system, normalize_code(system, code)))
                listed.append((system, code))
            if len(filters) > 1:
                raise self.fail([*loc, "filter", 1], "only one filter per include is supported (FHIR ANDs filters)")
            for findex, flt in enumerate(filters):
                floc = [*loc, "filter", findex]
                if flt.get("op") != "is-a":
                    raise self.fail([*floc, "op"], f"unknown filter op {flt.get('op')!r}: only 'is-a' is supported")
                if flt.get("property") != "concept":
                    raise self.fail([*floc, "property"], "is-a filters must use property 'concept'")
                if system not in HIERARCHICAL_SYSTEMS:
                    raise self.fail([*floc, "op"], f"is-a is supported only for ICD-10-CM and ICD-10-PCS, not {system}")
                value = normalize_code(system, flt.get("value") or "")
                if not value:
                    raise self.fail([*floc, "value"], "empty is-a value")
                prefixes.setdefault(system, []).append(value)
                is_a.append((system, flt["value"].strip()))
        return _Members(frozenset(codes), {system: tuple(values) for system, values in prefixes.items()})
