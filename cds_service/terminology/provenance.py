"""Where a value set's codes came from, recorded in the FHIR ValueSet itself.

Codes imported from a published value set (VSAC, an implementation guide) are written in includes
that name their source; the source is described once on the ValueSet:

    "extension": [{"url": SOURCE_EXT, "extension": [
        {"url": "url", "valueUri": "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.526.2.25"},
        {"url": "oid", "valueOid": "urn:oid:2.16.840.1.113883.3.526.2.25"},
        {"url": "version", "valueString": "20230210"},
        {"url": "title", "valueString": "Heart Failure"},
        {"url": "imported", "valueDate": "2026-12-04"},
        {"url": "from", "valueCode": "expansion"},
        {"url": "offered", "valueInteger": 77}, {"url": "codes", "valueInteger": 77},
        {"url": "dropped", "valueInteger": 0}]}]
    "compose": {"include": [{"extension": [{"url": INCLUDE_SOURCE_EXT,
                                            "valueCanonical": "http://cts.nlm.nih.gov/...|20230210"}],
                             "system": "http://snomed.info/sct", "concept": [...]}]}

Codes added by hand keep a verification mark instead (codes.md: ``v`` checked against official
files, ``s`` a secondary list, ``u`` unverified): a ``designation`` with use
``VERIFICATION_SYSTEM#<mark>`` on each concept, an extension ``VERIFICATION_EXT`` on each filter.

`source_problems` finds malformed provenance (the loader rejects it); `missing_provenance` finds
codes with none (lint reports them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SOURCE_EXT = "http://cds-service.local/fhir/StructureDefinition/valueset-source"
INCLUDE_SOURCE_EXT = "http://cds-service.local/fhir/StructureDefinition/include-source"
VERIFICATION_EXT = "http://cds-service.local/fhir/StructureDefinition/verification"
VERIFICATION_SYSTEM = "http://cds-service.local/fhir/CodeSystem/verification"
MARKS = frozenset({"v", "s", "u"})

#: Sub-extensions of SOURCE_EXT: name -> (FHIR value[x] key, required).
SOURCE_FIELDS: Mapping[str, tuple[str, bool]] = {
    "url": ("valueUri", True),
    "oid": ("valueOid", False),
    "version": ("valueString", False),
    "title": ("valueString", False),
    "imported": ("valueDate", True),
    "from": ("valueCode", True),
    "selection": ("valueString", False),
    "offered": ("valueInteger", True),
    "codes": ("valueInteger", True),
    "dropped": ("valueInteger", True),
}

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Source:
    """One published value set that codes were imported from."""

    url: str
    imported: str
    origin: str  # "expansion" or "compose"
    offered: int  # members of known systems in the source
    codes: int  # members written (selected, not already in the value set)
    dropped: int  # members of systems the service does not know
    oid: str | None = None
    version: str | None = None
    title: str | None = None
    selection: str | None = None

    @property
    def canonical(self) -> str:
        """``url|version`` (or ``url``): how includes name this source."""
        return f"{self.url}|{self.version}" if self.version else self.url

    def extension(self) -> dict[str, Any]:
        parts = []
        for name, (key, _) in SOURCE_FIELDS.items():
            value = getattr(self, "origin" if name == "from" else name)
            if value is not None:
                parts.append({"url": name, key: value})
        return {"url": SOURCE_EXT, "extension": parts}


def include_source(entry: Mapping[str, Any]) -> str | None:
    """The canonical of the source an include names, if any."""
    for ext in entry.get("extension") or ():
        if isinstance(ext, Mapping) and ext.get("url") == INCLUDE_SOURCE_EXT:
            value = ext.get("valueCanonical")
            return value if isinstance(value, str) else ""
    return None


def read_sources(data: Mapping[str, Any]) -> Iterator[tuple[int, Source | str]]:
    """(extension index, Source or the reason it is malformed) for each source a ValueSet declares."""
    for index, ext in enumerate(data.get("extension") or ()):
        if not isinstance(ext, Mapping) or ext.get("url") != SOURCE_EXT:
            continue
        values: dict[str, Any] = {}
        for part in ext.get("extension") or ():
            name = part.get("url") if isinstance(part, Mapping) else None
            if not isinstance(name, str) or name not in SOURCE_FIELDS:
                yield index, f"unknown part {name!r} of a value set source"
                break
            key, _ = SOURCE_FIELDS[name]
            if key not in part:
                yield index, f"value set source part {name!r} needs {key}"
                break
            values["origin" if name == "from" else name] = part[key]
        else:
            missing = [n for n, (_, required) in SOURCE_FIELDS.items() if required and ("origin" if n == "from" else n) not in values]
            if missing:
                yield index, f"value set source lacks {', '.join(missing)}"
            else:
                yield index, Source(**values)


def source_problems(data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Malformed provenance: a source extension missing a part, an include naming an undeclared source."""
    declared: set[str] = set()
    for index, source in read_sources(data):
        if isinstance(source, str):
            yield ("extension", index), source
        else:
            declared.add(source.canonical)
    compose = data.get("compose") or {}
    for part in ("include", "exclude"):
        for index, entry in enumerate(compose.get(part) or ()):
            canonical = include_source(entry) if isinstance(entry, Mapping) else None
            if canonical is not None and canonical not in declared:
                yield ("compose", part, index, "extension"), f"include names source {canonical!r}, which the value set does not declare"


def concept_mark(concept: Mapping[str, Any]) -> str | None:
    """The verification mark of a hand-added concept (None when it has none or several)."""
    marks = [
        d.get("use", {}).get("code")
        for d in concept.get("designation") or ()
        if isinstance(d, Mapping) and isinstance(d.get("use"), Mapping) and d["use"].get("system") == VERIFICATION_SYSTEM
    ]
    return marks[0] if len(marks) == 1 and marks[0] in MARKS else None


def filter_mark(flt: Mapping[str, Any]) -> str | None:
    """The verification mark of a hand-added is-a filter."""
    marks = [
        e.get("valueCoding", {}).get("code")
        for e in flt.get("extension") or ()
        if isinstance(e, Mapping) and e.get("url") == VERIFICATION_EXT and isinstance(e.get("valueCoding"), Mapping)
    ]
    return marks[0] if len(marks) == 1 and marks[0] in MARKS else None


def verification_designation(mark: str, reference: str) -> dict[str, Any]:
    """The designation that records a hand-added concept's verification mark and reference."""
    return {"use": {"system": VERIFICATION_SYSTEM, "code": mark}, "value": f"{mark}: {reference}"}


def missing_provenance(data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Codes that neither come from a declared source nor carry a v/s/u verification mark."""
    compose = data.get("compose") if isinstance(data, Mapping) else None
    if not isinstance(compose, Mapping):
        return
    for part in ("include", "exclude"):
        for index, entry in enumerate(compose.get(part) or ()):
            if not isinstance(entry, Mapping) or include_source(entry) is not None:
                continue
            loc: Loc = ("compose", part, index)
            for cindex, concept in enumerate(entry.get("concept") or ()):
                if isinstance(concept, Mapping) and concept_mark(concept) is None:
                    yield (*loc, "concept", cindex), (
                        f"code {concept.get('code')!r} has no provenance: import it from a source value set "
                        "or give it one verification designation (v, s or u) naming its reference"
                    )
            for findex, flt in enumerate(entry.get("filter") or ()):
                if isinstance(flt, Mapping) and filter_mark(flt) is None:
                    yield (*loc, "filter", findex), (
                        f"is-a {flt.get('value')!r} has no provenance: give it one verification extension (v, s or u)"
                    )
