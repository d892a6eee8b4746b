"""Is every code in the value sets well-formed for its system? (part of ``cds-service lint-cards``)

    ICD-10-CM   letter, digit, digit-or-letter, optional dot and up to 4 more; must exist
                (categories and is-a roots included) in the ICD-10-CM tabular list
    ICD-10-PCS  7 characters 0-9 and A-Z without I and O (is-a roots: 1 to 7)
    CPT         5 characters: 4 digits then a digit, F (category II), T (III) or U (PLA)
    LOINC       digits, a hyphen and the mod-10 check digit (``8310-5``)
    RxNorm      digits (RXCUI); must be a product of the bundled RxNorm table
                (``terminology/data/rxnorm-products.tsv``) or an ingredient of one
    SNOMED CT   6 to 18 digits, a concept partition (``00``/``10``) and a valid Verhoeff check digit

Every code also needs provenance: an include imported from a declared source value set, or a
v/s/u verification mark on the concept or filter (``terminology/provenance.py``).

The loader has already checked the ValueSet structure; this module only reads codes.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from cds_service.content.loader import Problem
from cds_service.terminology.icd10 import icd10cm_exists
from cds_service.terminology.jsonpos import line_finder
from cds_service.terminology.provenance import include_source, missing_provenance
from cds_service.terminology.rxnorm import DEFAULT_PRODUCTS, read_products
from cds_service.terminology.systems import CPT, ICD10CM, ICD10PCS, LOINC, RXNORM, SNOMED, canonical_system

_ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")
_PCS = re.compile(r"^[0-9A-HJ-NP-Z]{7}$")
_PCS_ROOT = re.compile(r"^[0-9A-HJ-NP-Z]{1,7}$")
_CPT = re.compile(r"^[0-9]{4}[0-9FTU]$")
_LOINC = re.compile(r"^([0-9]{1,7})-([0-9])$")
_RXNORM = re.compile(r"^[1-9][0-9]{0,8}$")
_SNOMED = re.compile(r"^[1-9][0-9]{5,17}$")

# Verhoeff tables (dihedral group D5).
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(number: str) -> bool:
    """Whether the last digit of ``number`` is its Verhoeff check digit."""
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def loinc_check_digit(number: str) -> int:
    """The LOINC mod-10 check digit of the digits before the hyphen (the Luhn algorithm)."""
    total = 0
    for i, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


# Every RxNorm product code (``rxcui<TAB>name``) of the drug list the product table is derived
# from (``scripts/derive_rxnorm_products.py``): hand-written codes outside the product table.
RXNORM_NAMES = DEFAULT_PRODUCTS.parent / "rxnorm-names.tsv.gz"


@functools.cache
def rxnorm_known() -> frozenset[str]:
    """Every RXCUI the bundled tables know: the product table's products and their ingredients, and
    every product of the drug list it is derived from."""
    products = read_products(DEFAULT_PRODUCTS)
    with gzip.open(RXNORM_NAMES, "rt", encoding="utf-8") as handle:
        listed = {line.split("\t", 1)[0] for line in handle}
    return frozenset(products) | frozenset(i for p in products.values() for i in p.ingredients) | frozenset(listed)


def code_problem(system: str, code: str, *, is_a: bool = False, imported: bool = False) -> str | None:
    """Why ``code`` is not a well-formed code of ``system``; None when it is (or the system is unchecked).

    A hand-written RxNorm code must be a product or ingredient of the bundled table; one ``imported``
    from a declared VSAC source is vouched for by that source (the table lists only the products
    the service maps to ingredients), so only its form is checked."""
    if system == ICD10CM:
        if not _ICD10CM.match(code):
            return f"ICD-10-CM code {code!r} is malformed (expected e.g. 'M54.2')"
        if not icd10cm_exists(code):
            return f"ICD-10-CM code {code!r} does not exist in ICD-10-CM"
    elif system == ICD10PCS:
        if not (_PCS_ROOT if is_a else _PCS).match(code):
            return f"ICD-10-PCS code {code!r} is malformed (7 characters 0-9, A-Z without I and O)"
    elif system == CPT:
        if not _CPT.match(code):
            return f"CPT code {code!r} is malformed (5 characters: 4 digits then a digit, F, T or U)"
    elif system == LOINC:
        match = _LOINC.match(code)
        if not match:
            return f"LOINC code {code!r} is malformed (digits, '-', check digit: e.g. '8310-5')"
        expected = loinc_check_digit(match[1])
        if int(match[2]) != expected:
            return f"LOINC code {code!r} has a wrong check digit (expected {match[1]}-{expected})"
    elif system == RXNORM:
        if not _RXNORM.match(code):
            return f"RxNorm code {code!r} is malformed (an RXCUI is digits only)"
        if not imported and code not in rxnorm_known():
            return f"RxNorm code {code!r} is not in the bundled RxNorm tables (no such product or ingredient)"
    elif system == SNOMED:
        if not _SNOMED.match(code):
            return f"SNOMED CT code {code!r} is malformed (6 to 18 digits)"
        if code[-3:-1] not in ("00", "10"):
            return f"SNOMED CT code {code!r} is not a concept id (partition {code[-3:-1]!r})"
        if not verhoeff_valid(code):
            return f"SNOMED CT code {code!r} fails its Verhoeff check digit"
    return None


Loc = tuple[str | int, ...]


def _codes(data: Any) -> Iterator[tuple[Loc, str, str, bool, bool]]:
    """(location, system, code, is_a, imported) of every code and is-a root in a ValueSet's compose."""
    compose = data.get("compose") if isinstance(data, dict) else None
    if not isinstance(compose, dict):
        return
    for part in ("include", "exclude"):
        for i, entry in enumerate(compose.get(part) or []):
            if not isinstance(entry, dict):
                continue
            system = canonical_system(str(entry.get("system") or ""))
            imported = include_source(entry) is not None
            for j, concept in enumerate(entry.get("concept") or []):
                if isinstance(concept, dict) and isinstance(concept.get("code"), str):
                    yield ("compose", part, i, "concept", j, "code"), system, concept["code"].strip(), False, imported
            for j, flt in enumerate(entry.get("filter") or []):
                if isinstance(flt, dict) and isinstance(flt.get("value"), str):
                    yield ("compose", part, i, "filter", j, "value"), system, flt["value"].strip(), True, imported


def check_valueset_codes(directory: Path) -> tuple[list[Problem], int]:
    """Problems with the codes of every value set under ``directory``/valuesets, and how many codes were checked."""
    issues: list[Problem] = []
    checked = 0
    for path in sorted((Path(directory) / "valuesets").glob("*.json")):
        found, count = check_valueset_file(path)
        issues += found
        checked += count
    return issues, checked


def check_valueset_file(path: Path) -> tuple[list[Problem], int]:
    """Problems with the codes and provenance of one value set file, and how many codes were checked."""
    try:
        text = path.read_text(encoding="utf-8")
        data = orjson.loads(text)
    except (OSError, UnicodeDecodeError, orjson.JSONDecodeError):
        return [], 0  # the loader reports unreadable files
    errors: list[tuple[Loc, str]] = []
    duplicates: list[tuple[Loc, str, Loc]] = []  # (where, code, first listed)
    checked = 0
    seen: dict[tuple[str, str], Loc] = {}
    for loc, system, code, is_a, imported in _codes(data):
        checked += 1
        problem = code_problem(system, code, is_a=is_a, imported=imported)
        if problem is not None:
            errors.append((loc, problem))
        key = (system, code.upper())
        if key in seen and loc[1] == "include":
            duplicates.append((loc, code, seen[key]))
        seen.setdefault(key, loc)
    errors += missing_provenance(data)
    if not errors and not duplicates:
        return [], checked
    line = line_finder(text)
    issues = [Problem(str(path), line(loc), message) for loc, message in errors]
    issues += [
        Problem(str(path), line(loc), f"code {code!r} is listed twice (also on line {line(first)})", "warning")
        for loc, code, first in duplicates
    ]
    return issues, checked
