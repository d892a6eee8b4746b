"""Where a value set's codes came from, recorded in the FHIR ValueSet itself.

Codes imported from a published value set (VSAC, an implementation guide) are written in includes
that reference their source by ``valueSet``; the source is described once on the ValueSet:

    "extension": [{"url": "<base>/StructureDefinition/valueset-source", "extension": [
        {"url": "url", "valueUri": "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.526.2.25"},
        {"url": "oid", "valueOid": "urn:oid:2.16.840.1.113883.3.526.2.25"},
        {"url": "version", "valueString": "20230210"},
        {"url": "title", "valueString": "Heart Failure"},
        {"url": "imported", "valueDate": "2026-12-04"},
        {"url": "from", "valueCode": "expansion"},
        {"url": "offered", "valueInteger": 77}, {"url": "codes", "valueInteger": 77},
        {"url": "dropped", "valueInteger": 0}]}]
    "compose": {"include": [{"system": "http://snomed.info/sct",
                             "valueSet": ["http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.526.2.25|20230210"],
                             "concept": [...]}]}

In FHIR an include with both ``concept`` and ``valueSet`` holds the listed codes that are also in
that value set: here, the codes selected from source X at version Y. The service reads only the
listed codes (offline); an include with a ``valueSet`` and no listed codes, or with a filter, is
rejected, since the service does not hold the referenced set. The reference is the source's own
canonical ``url|version`` (for a VSAC set, ``http://cts.nlm.nih.gov/fhir/ValueSet/<OID>|<version>``).

Codes added by hand keep a verification mark instead (codes.md: ``v`` checked against official
files, ``s`` a secondary list, ``u`` unverified): a ``designation`` with use
``<base>/CodeSystem/verification#<mark>`` on each concept, an extension
``<base>/StructureDefinition/verification`` on each filter. They sit in includes without a
``valueSet``: a hand-added code is no member of a source's set.

``<base>`` is the canonical base of the value set's own ``url`` (``canonical.py``).
`source_problems` finds malformed provenance (the loader rejects it); `missing_provenance` finds
codes with none (lint reports them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.terminology.canonical import CanonicalBase, versioned

MARKS = frozenset({"v", "s", "u"})

#: Sub-extensions of the valueset-source extension: name -> (FHIR value[x] key, required).
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


def _attribute(name: str) -> str:
    """The `Source` attribute of a sub-extension (``from`` is a Python keyword: ``origin``)."""
    return "origin" if name == "from" else name


def source_extension(base: CanonicalBase) -> str:
    """The url of the extension that describes one source on a ValueSet."""
    return base.structure_definition("valueset-source")


def verification_extension(base: CanonicalBase) -> str:
    """The url of the extension that marks a hand-added is-a filter."""
    return base.structure_definition("verification")


def verification_system(base: CanonicalBase) -> str:
    """The code system of the verification marks (v, s, u)."""
    return base.code_system("verification")


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
        """``url|version`` (or ``url``): how includes reference this source (``include.valueSet``)."""
        return versioned(self.url, self.version)

    def extension(self, base: CanonicalBase) -> dict[str, Any]:
        parts = []
        for name, (key, _) in SOURCE_FIELDS.items():
            value = getattr(self, _attribute(name))
            if value is not None:
                parts.append({"url": name, key: value})
        return {"url": source_extension(base), "extension": parts}


def include_source(entry: Mapping[str, Any]) -> str | None:
    """The canonical of the source an include references (its one ``valueSet``); "" when the
    reference is malformed, None when there is none."""
    refs = entry.get("valueSet")
    if refs is None:
        return None
    if isinstance(refs, list) and len(refs) == 1 and isinstance(refs[0], str) and refs[0]:
        return refs[0]
    return ""


def read_sources(data: Mapping[str, Any]) -> Iterator[tuple[int, Source | str]]:
    """(extension index, Source or the reason it is malformed) for each source a ValueSet declares."""
    base = CanonicalBase.of_valueset(data)
    if base is None:  # no base to read the extensions under (the loader rejects the url)
        return
    url = source_extension(base)
    for index, ext in enumerate(data.get("extension") or ()):
        if not isinstance(ext, Mapping) or ext.get("url") != url:
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
            values[_attribute(name)] = part[key]
        else:
            missing = [n for n, (_, required) in SOURCE_FIELDS.items() if required and _attribute(n) not in values]
            if missing:
                yield index, f"value set source lacks {', '.join(missing)}"
            else:
                yield index, Source(**values)


def source_problems(data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Malformed provenance: a source extension missing a part; an include whose ``valueSet`` is not
    one declared source, or that lists no codes, or holds a hand-added code; an exclude by ``valueSet``."""
    declared: set[str] = set()
    for index, source in read_sources(data):
        if isinstance(source, str):
            yield ("extension", index), source
        else:
            declared.add(source.canonical)
    base = CanonicalBase.of_valueset(data)
    compose = data.get("compose") or {}
    for part in ("include", "exclude"):
        for index, entry in enumerate(compose.get(part) or ()):
            reference = include_source(entry) if isinstance(entry, Mapping) else None
            if reference is None:
                continue
            loc: Loc = ("compose", part, index, "valueSet")
            if part == "exclude":
                yield loc, "an exclude by valueSet is not supported: list the codes to exclude"
            elif not reference:
                yield loc, "valueSet must name exactly one source value set (url|version)"
            elif reference not in declared:
                yield (*loc, 0), (
                    f"valueSet {reference!r} is not a source the value set declares: "
                    "a valueset-source extension with the same url and version must describe it"
                )
            elif entry.get("filter") or not entry.get("concept"):
                yield loc, (
                    "an include with a valueSet must list its codes (concept), without a filter: "
                    "the service holds only the codes listed, not the referenced value set"
                )
            elif base is not None:
                for cindex, concept in enumerate(entry["concept"]):
                    mark = concept_mark(concept, base) if isinstance(concept, Mapping) else None
                    if mark is not None:
                        yield ("compose", part, index, "concept", cindex, "code"), (
                            f"hand-added code {concept.get('code')!r} (mark {mark}) is in an include bound to source "
                            f"{reference!r}: move it to an include without valueSet"
                        )


def concept_mark(concept: Mapping[str, Any], base: CanonicalBase) -> str | None:
    """The verification mark of a hand-added concept (None when it has none or several)."""
    system = verification_system(base)
    marks = [
        d.get("use", {}).get("code")
        for d in concept.get("designation") or ()
        if isinstance(d, Mapping) and isinstance(d.get("use"), Mapping) and d["use"].get("system") == system
    ]
    return marks[0] if len(marks) == 1 and marks[0] in MARKS else None


def filter_mark(flt: Mapping[str, Any], base: CanonicalBase) -> str | None:
    """The verification mark of a hand-added is-a filter."""
    url = verification_extension(base)
    marks = [
        e.get("valueCoding", {}).get("code")
        for e in flt.get("extension") or ()
        if isinstance(e, Mapping) and e.get("url") == url and isinstance(e.get("valueCoding"), Mapping)
    ]
    return marks[0] if len(marks) == 1 and marks[0] in MARKS else None


def verification_designation(mark: str, reference: str, base: CanonicalBase) -> dict[str, Any]:
    """The designation that records a hand-added concept's verification mark and reference."""
    return {"use": {"system": verification_system(base), "code": mark}, "value": f"{mark}: {reference}"}


def missing_provenance(data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Codes that neither come from a declared source nor carry a v/s/u verification mark."""
    compose = data.get("compose") if isinstance(data, Mapping) else None
    base = CanonicalBase.of_valueset(data) if isinstance(data, Mapping) else None
    if not isinstance(compose, Mapping) or base is None:  # the loader reports a wrong url
        return
    for part in ("include", "exclude"):
        for index, entry in enumerate(compose.get(part) or ()):
            if not isinstance(entry, Mapping) or include_source(entry) is not None:
                continue
            loc: Loc = ("compose", part, index)
            for cindex, concept in enumerate(entry.get("concept") or ()):
                if isinstance(concept, Mapping) and concept_mark(concept, base) is None:
                    yield (*loc, "concept", cindex), (
                        f"code {concept.get('code')!r} has no provenance: import it from a source value set "
                        "or give it one verification designation (v, s or u) naming its reference"
                    )
            for findex, flt in enumerate(entry.get("filter") or ()):
                if isinstance(flt, Mapping) and filter_mark(flt, base) is None:
                    yield (*loc, "filter", findex), (
                        f"is-a {flt.get('value')!r} has no provenance: give it one verification extension (v, s or u)"
                    )
