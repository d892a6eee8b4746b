"""Import published FHIR ValueSets (VSAC exports) into the bundled value sets, with provenance.

    source = read_source(Path("2.16.840.1.113883.3.526.2.25.json"))      # expansion or compose
    picked = select(source, Selection(exclude_display=("uncertain behavior",)))
    result = import_into(Path("cards/valuesets"), "heart-failure", [picked], today)
    result.path.write_text(result.text)

`read_source` takes the members of a ValueSet: its expansion when complete, else its compose when
that lists codes explicitly; a paged expansion (``expansion.total`` above the codes it holds, or
an ``offset`` past 0) without such a compose is refused with `SourceError`. Systems are
canonicalised (OIDs, trailing slashes); members of systems the service does not know (ICD-9-CM,
HCPCS …) are dropped and counted. `select` keeps the members of a concept from a superset.
`import_into` writes a new value set or merges into an existing one: includes from an earlier
import of the same source are replaced, codes the value set already holds are not repeated, hand
added codes are kept, and the source is recorded (``provenance.py``): described once on the
ValueSet, and referenced as ``url|version`` by the ``valueSet`` of each include holding its codes.
A source version ``Latest`` (what cql-exec-vsac caches call the expansion current when cached) is
no version: such a source is recorded and referenced by its url alone.

The bundled value set's own ``version`` (MAJOR.MINOR.PATCH) is set by `with_version`: 1.0.0 when
new; then MAJOR when codes (or is-a roots) left the compose, MINOR when codes were only added, PATCH
when the compose changed without changing the codes (a source's version, a display), unchanged
when the compose is the same, so importing the same files again changes nothing but the date.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.terminology.canonical import CanonicalBase, DEFAULT_CANONICAL, VERSION_PATTERN
from cds_service.terminology.errors import TerminologyError
from cds_service.terminology.provenance import Source, include_source, read_sources
from cds_service.terminology.systems import KNOWN_SYSTEMS, canonical_system, normalize_code
from cds_service.terminology.valuesets import CompiledValueSet, compile_valueset

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UNVERSIONED = frozenset({"latest"})  # a cache's name for "the version current when cached"
FIRST_VERSION = "1.0.0"


class SourceError(TerminologyError):
    """A source value set cannot be imported (not a ValueSet, paged, no explicit codes)."""


@dataclass(frozen=True, slots=True)
class Member:
    system: str
    code: str
    display: str | None
    system_version: str | None = None


@dataclass(frozen=True, slots=True)
class SourceSet:
    """The members of one published value set, of the systems the service knows."""

    url: str
    oid: str | None
    version: str | None
    title: str | None
    origin: str  # "expansion" or "compose"
    members: tuple[Member, ...]
    dropped: Mapping[str, int] = field(default_factory=dict)  # unknown system -> codes dropped
    offered: int = 0  # members before selection
    selection: str | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """Which members of a superset belong to the concept (regular expressions, case-insensitive).

    A member is kept when its display matches one of ``select_display`` (if given), its code
    matches one of ``select_code`` from the start (if given), it is in ``codes`` (if given), its
    system is one of ``systems`` (canonical URLs, if given), and neither its display matches
    ``exclude_display`` nor its code ``exclude_code``. A member
    without a display (cached VSAC expansions have none) is matched by its name in ``names``
    (code -> name, e.g. an RxNorm product table), which is used for selecting only.
    """

    select_display: tuple[str, ...] = ()
    exclude_display: tuple[str, ...] = ()
    select_code: tuple[str, ...] = ()
    exclude_code: tuple[str, ...] = ()
    codes: frozenset[str] | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    systems: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return (
            bool(self.select_display or self.exclude_display or self.select_code or self.exclude_code)
            or self.codes is not None or self.systems is not None
        )  # fmt: skip

    def describe(self) -> str | None:
        parts = [
            *(f"display ~ /{p}/" for p in self.select_display),
            *(f"code ~ /^{p}/" for p in self.select_code),
            *([f"one of {len(self.codes)} listed codes"] if self.codes is not None else []),
            *([f"system in {', '.join(sorted(self.systems))}"] if self.systems is not None else []),
            *(f"not display ~ /{p}/" for p in self.exclude_display),
            *(f"not code ~ /^{p}/" for p in self.exclude_code),
        ]
        return "; ".join(parts) or None

    def keeps(self, member: Member) -> bool:
        display = member.display or self.names.get(member.code) or ""
        if self.select_display and not any(re.search(p, display, re.I) for p in self.select_display):
            return False
        if self.select_code and not any(re.match(p, member.code, re.I) for p in self.select_code):
            return False
        if self.codes is not None and member.code not in self.codes:
            return False
        if self.systems is not None and member.system not in self.systems:
            return False
        if any(re.search(p, display, re.I) for p in self.exclude_display):
            return False
        return not any(re.match(p, member.code, re.I) for p in self.exclude_code)


@dataclass(frozen=True)
class ImportResult:
    path: Path  # the value set file the result is for
    text: str  # the merged value set, as it is written
    sources: tuple[Source, ...]
    already: int  # selected codes the value set held already


def read_names(path: Path) -> dict[str, str]:
    """``code<TAB>name`` lines (a first line that is a header is skipped)."""
    names = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        code, _, name = line.partition("\t")
        if code.strip() and name.strip() and code.strip().isalnum():
            names[code.strip()] = name.strip()
    names.pop("rxcui", None)
    return names


def read_code_file(path: Path) -> frozenset[str]:
    """Codes listed one a line (``code`` or ``system|code``; ``#`` starts a comment)."""
    codes = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            codes.add(line.rsplit("|", 1)[-1].strip())
    return frozenset(codes)


def read_source(path: Path) -> SourceSet:
    """The members of the FHIR ValueSet in ``path`` (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(path, 0, f"cannot read a JSON ValueSet: {exc}") from None
    if not isinstance(data, dict) or data.get("resourceType") != "ValueSet":
        raise SourceError(path, 1, "not a FHIR ValueSet (resourceType must be 'ValueSet')")
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise SourceError(path, 1, "the ValueSet has no canonical url: its provenance could not be recorded")
    raw, origin = _raw_members(path, data)
    members: dict[tuple[str, str], Member] = {}
    dropped: Counter[str] = Counter()
    for system, code, display, version in raw:
        system = canonical_system(system)
        if system not in KNOWN_SYSTEMS:
            dropped[system] += 1
            continue
        members.setdefault((system, normalize_code(system, code)), Member(system, code, display, version))
    return SourceSet(
        url=url,
        oid=_oid(data),
        version=_version(data.get("version")),
        title=data.get("title") or data.get("name"),
        origin=origin,
        members=tuple(members.values()),
        dropped=dict(dropped),
        offered=len(members),
    )


def _raw_members(path: Path, data: dict[str, Any]) -> tuple[list[tuple[str, str, str | None, str | None]], str]:
    expansion = data.get("expansion") if isinstance(data.get("expansion"), dict) else None
    compose_codes = _compose_codes(data.get("compose"))
    if expansion is not None:
        contains = list(_flatten(expansion.get("contains") or []))
        total, offset = expansion.get("total"), expansion.get("offset")
        paged = (isinstance(total, int) and total > len(contains)) or (isinstance(offset, int) and offset > 0)
        if not paged:
            return contains, "expansion"
        if compose_codes is None:
            raise SourceError(
                path, 1,
                f"the expansion is paged ({len(contains)} of {total} codes, offset {offset or 0}) and the compose does not "
                "list its codes: export the complete expansion (every page) and import that",
            )  # fmt: skip
        return compose_codes, "compose"
    if compose_codes is None:
        raise SourceError(path, 1, "the ValueSet has no expansion and its compose does not list codes (filters or valueSet includes)")
    return compose_codes, "compose"


def _flatten(contains: Iterable[Any]) -> Iterator[tuple[str, str, str | None, str | None]]:
    for item in contains:
        if not isinstance(item, dict):
            continue
        if item.get("system") and item.get("code") and not item.get("abstract"):
            yield item["system"], str(item["code"]).strip(), item.get("display"), item.get("version")
        yield from _flatten(item.get("contains") or [])


def _compose_codes(compose: Any) -> list[tuple[str, str, str | None, str | None]] | None:
    """Every code of a compose that only lists codes; None when it filters, excludes or refers to value sets."""
    if not isinstance(compose, dict) or not compose.get("include") or compose.get("exclude"):
        return None
    out = []
    for entry in compose["include"]:
        if not isinstance(entry, dict) or entry.get("filter") or entry.get("valueSet") or not entry.get("concept") or not entry.get("system"):
            return None
        out += [(entry["system"], str(c["code"]).strip(), c.get("display"), entry.get("version")) for c in entry["concept"]]
    return out


def _version(value: Any) -> str | None:
    """A source's version, or None when it names none (absent, or ``Latest``)."""
    if not isinstance(value, str) or not value.strip() or value.strip().lower() in _UNVERSIONED:
        return None
    return value.strip()


def _oid(data: dict[str, Any]) -> str | None:
    for identifier in data.get("identifier") or []:
        value = identifier.get("value") if isinstance(identifier, dict) else None
        if isinstance(value, str) and value.startswith("urn:oid:") and _OID.match(value[8:]):
            return value
    last = str(data.get("url", "")).rstrip("/").rsplit("/", 1)[-1]
    return f"urn:oid:{last}" if _OID.match(last) else None


def select(source: SourceSet, selection: Selection) -> SourceSet:
    """``source`` with only the members ``selection`` keeps (the selection is recorded)."""
    if not selection:
        return source
    return replace(source, members=tuple(m for m in source.members if selection.keeps(m)), selection=selection.describe())


# --------------------------------------------------------------------------- writing


def new_valueset(valueset_id: str, title: str, base: CanonicalBase, description: str | None = None) -> dict[str, Any]:
    """An empty bundled ValueSet named ``valueset_id``, its url under ``base``."""
    data: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": valueset_id,
        "url": base.valueset(valueset_id),
        "version": FIRST_VERSION,
        "name": "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", valueset_id) if part),
        "title": title,
        "status": "active",
    }
    if description:
        data["description"] = description
    data["compose"] = {"include": []}
    return data


def strip_imported(data: dict[str, Any], urls: Iterable[str] | None = None) -> dict[str, Any]:
    """``data`` without the imported includes and sources (of ``urls``, or all): hand-added codes stay."""
    wanted = None if urls is None else set(urls)

    def imported(canonical: str | None) -> bool:
        return canonical is not None and (wanted is None or canonical.split("|", 1)[0] in wanted)

    sources = [(index, s) for index, s in read_sources(data) if not isinstance(s, str) and imported(s.canonical)]
    dropped = {s.canonical for _, s in sources}
    out = dict(data)
    gone = {index for index, _ in sources}
    out["extension"] = [ext for index, ext in enumerate(data.get("extension") or []) if index not in gone]
    if not out["extension"]:
        del out["extension"]
    compose = dict(data.get("compose") or {})
    compose["include"] = [e for e in compose.get("include") or [] if include_source(e) not in dropped]
    out["compose"] = compose
    return out


def merge(data: dict[str, Any], sources: Sequence[SourceSet], today: date) -> tuple[dict[str, Any], tuple[Source, ...], int]:
    """``data`` with ``sources`` merged in: (the new ValueSet, the sources recorded, codes already held)."""
    base = CanonicalBase.of_valueset(data)
    if base is None:
        raise SourceError(Path(f"{data.get('id')}.json"), 0, "the value set's url is not <canonical base>/ValueSet/<id>")
    data = strip_imported(data, [s.url for s in sources])
    held = _compiled(data, base)
    seen: set[tuple[str, str]] = set()
    already = 0
    includes = list(data["compose"].get("include") or [])
    recorded: list[Source] = []
    for source in sources:
        groups: dict[tuple[str, str | None], list[dict[str, str]]] = {}
        taken = 0
        for m in source.members:
            key = (m.system, normalize_code(m.system, m.code))
            if key in seen or (held is not None and held.contains(m.system, m.code)):
                already += 1
                continue
            seen.add(key)
            concept = {"code": m.code}
            if m.display and m.display.strip():
                concept["display"] = m.display.strip()
            groups.setdefault((m.system, m.system_version), []).append(concept)
            taken += 1
        provenance = Source(
            url=source.url, imported=today.isoformat(), origin=source.origin, offered=source.offered, codes=taken,
            dropped=sum(source.dropped.values()), oid=source.oid, version=source.version, title=source.title,
            selection=source.selection,
        )  # fmt: skip
        recorded.append(provenance)
        for (system, version), concepts in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or "")):
            include: dict[str, Any] = {"system": system}
            if version:
                include["version"] = version
            include["valueSet"] = [provenance.canonical]
            include["concept"] = sorted(concepts, key=lambda c: c["code"])
            includes.append(include)
    out = {k: v for k, v in data.items() if k not in ("extension", "compose")}
    extensions = [*(data.get("extension") or []), *(s.extension(base) for s in recorded)]
    ordered: dict[str, Any] = {}
    for field_name, value in out.items():  # the extension goes where FHIR JSON puts it: after id/meta/text
        ordered[field_name] = value
        if field_name == "id":
            ordered["extension"] = extensions
    if "extension" not in ordered:
        ordered = {"extension": extensions, **ordered}
    ordered["compose"] = {**data["compose"], "include": includes}
    return ordered, tuple(recorded), already


def _compiled(data: dict[str, Any], base: CanonicalBase) -> CompiledValueSet | None:
    """The value set as it stands (for 'already held'); None when it has no codes yet."""
    if not (data.get("compose") or {}).get("include"):
        return None
    return compile_valueset(Path(f"{data['id']}.json"), dumps(data), data, base)


def with_version(before: Mapping[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """``after`` with its version, worked out from ``before`` (the value set as it was; None when new):
    see the module docstring."""
    old = before.get("version") if before is not None else None
    if before is None or not isinstance(old, str) or not re.match(VERSION_PATTERN, old):
        version = FIRST_VERSION
    elif before.get("compose") == after.get("compose"):
        version = old
    else:
        was, now = _codes(before), _codes(after)
        major, minor, patch = (int(n) for n in old.split("."))
        if was - now:
            version = f"{major + 1}.0.0"
        elif now - was:
            version = f"{major}.{minor + 1}.0"
        else:
            version = f"{major}.{minor}.{patch + 1}"
    out: dict[str, Any] = {}
    for key, value in after.items():  # the version goes where FHIR JSON puts it: after the url
        if key != "version":
            out[key] = value
        if key == "url":
            out["version"] = version
    if "version" not in out:
        out["version"] = version
    return out


def _codes(data: Mapping[str, Any]) -> set[tuple[str, str, str, str]]:
    """(include or exclude, system, code, "code" or "is-a") of every code and is-a root of a compose."""
    out = set()
    compose = data.get("compose") or {}
    for part in ("include", "exclude"):
        for entry in compose.get(part) or ():
            system = canonical_system(str(entry.get("system") or ""))
            out |= {(part, system, normalize_code(system, str(c.get("code", ""))), "code") for c in entry.get("concept") or ()}
            out |= {(part, system, normalize_code(system, str(f.get("value", ""))), "is-a") for f in entry.get("filter") or ()}
    return out


def import_into(
    directory: Path, valueset_id: str, sources: Sequence[SourceSet], today: date, *,
    title: str | None = None, description: str | None = None, base: CanonicalBase = DEFAULT_CANONICAL,
    replace_imported: bool = False,
) -> ImportResult:  # fmt: skip
    """``sources`` merged into ``directory/<valueset_id>.json``, or a new value set with ``title``
    when ``title`` is given (then the file must not exist yet; its url is under ``base``), versioned
    by `with_version`. With ``replace_imported`` the existing set first loses every imported include
    and source (`strip_imported`), not only those of ``sources``. Nothing is written: see `ImportResult`."""
    path = Path(directory) / f"{valueset_id}.json"
    before: dict[str, Any] | None = None
    if title is not None:
        if path.exists():
            raise SourceError(path, 0, f"value set {valueset_id!r} exists already: merge into it instead")
        data = new_valueset(valueset_id, title, base, description)
    elif not path.exists():
        raise SourceError(path, 0, f"no value set {valueset_id!r} to merge into: give a title to create it")
    else:
        try:
            data = before = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SourceError(path, 0, f"cannot read the value set to merge into: {exc}") from None
        if replace_imported:
            data = strip_imported(before)
    merged, recorded, already = merge(data, sources, today)
    return ImportResult(path, dumps(with_version(before, merged)), recorded, already)


def dumps(data: Any) -> str:
    """JSON as the bundled files are written (2-space indent), with plain concepts one a line."""
    return _dump(data, 0) + "\n"


def _dump(value: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict) and _simple_extension(value):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dump(v, depth + 1)}" for k, v in value.items()]
        if "concept" in value and isinstance(value["concept"], list):
            items = [
                f"{inner}{json.dumps(k)}: {_concepts(v, depth + 1)}" if k == "concept" else line
                for (k, v), line in zip(value.items(), items)
            ]  # fmt: skip
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + _dump(v, depth + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def _simple_extension(value: dict[str, Any]) -> bool:
    """An extension with a url and one primitive value: written on one line."""
    return len(value) == 2 and "url" in value and any(
        k.startswith("value") and isinstance(v, (str, int, bool)) for k, v in value.items()
    )


def _concepts(concepts: list[Any], depth: int) -> str:
    if not concepts or not all(isinstance(c, dict) and c.keys() <= {"code", "display"} for c in concepts):
        return _dump(concepts, depth)
    pad, inner = "  " * depth, "  " * (depth + 1)
    return "[\n" + ",\n".join(inner + json.dumps(c, ensure_ascii=False) for c in concepts) + "\n" + pad + "]"
