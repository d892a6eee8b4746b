"""Value-set code checks of ``lint-cards``: format, check digits and ICD-10-CM existence per system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.content.lint_codes import check_valueset_codes, code_problem, loinc_check_digit, verhoeff_valid
from cds_service.terminology import CPT, ICD10CM, ICD10PCS, LOINC, RXNORM, SNOMED
from cds_service.terminology.canonical import CanonicalBase
from cds_service.terminology.provenance import verification_designation


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD10CM, "M54.2"),
        (ICD10CM, "S16.1XXA"),
        (ICD10CM, "M50"),
        (ICD10PCS, "0RG10A0"),
        (CPT, "72141"),
        (CPT, "3288F"),
        (LOINC, "8310-5"),
        (LOINC, "62238-1"),
        (RXNORM, "828320"),
        (SNOMED, "91251008"),
        (SNOMED, "22298006"),
    ],
)
def test_well_formed_codes_pass(system: str, code: str) -> None:
    """Real codes of every system are accepted."""
    assert code_problem(system, code) is None


@pytest.mark.parametrize(
    ("system", "code", "words"),
    [
        (ICD10CM, "M54.99", "does not exist"),
        (ICD10CM, "54.2", "malformed"),
        (ICD10PCS, "0RG1", "malformed"),
        (CPT, "7214", "malformed"),
        (CPT, "72141X", "malformed"),
        (LOINC, "8310-4", "check digit (expected 8310-5)"),
        (LOINC, "8310", "malformed"),
        (RXNORM, "82a320", "malformed"),
        (SNOMED, "91251009", "Verhoeff"),
        (SNOMED, "91251", "malformed"),
        (SNOMED, "91251028", "not a concept id"),
    ],
)
def test_malformed_codes_are_named(system: str, code: str, words: str) -> None:
    """A malformed, non-existent or badly check-digited code gets a message that says what is wrong."""
    problem = code_problem(system, code)
    assert problem is not None and words in problem and code in problem


def test_is_a_roots_may_be_short_for_icd10pcs() -> None:
    """An ICD-10-PCS is-a root is a prefix (1 to 7 characters), not a full code."""
    assert code_problem(ICD10PCS, "0RG1", is_a=True) is None


def test_check_digit_algorithms() -> None:
    """Verhoeff (SNOMED CT) and mod 10 (LOINC) check digits are computed correctly."""
    assert verhoeff_valid("2363") and not verhoeff_valid("2364")
    assert loinc_check_digit("8310") == 5 and loinc_check_digit("2160") == 0


def write_valueset(directory: Path, codes: list[tuple[str, str]]) -> Path:
    path = directory / "valuesets" / "test-set.json"
    path.parent.mkdir(parents=True)
    include: dict[str, list[dict[str, str]]] = {}
    for system, code in codes:
        include.setdefault(system, []).append({"code": code, "designation": [verification_designation("u", "test", CanonicalBase())]})
    compose = {"include": [{"system": s, "concept": c} for s, c in include.items()]}
    data = {"resourceType": "ValueSet", "id": "test-set", "url": CanonicalBase().valueset("test-set"), "compose": compose}
    path.write_text(json.dumps(data, indent=2))
    return path


def test_value_set_files_report_each_bad_code_at_its_line(tmp_path: Path) -> None:
    """check_valueset_codes names the file and the line of each bad code, and warns about duplicates."""
    path = write_valueset(tmp_path, [(ICD10CM, "M54.2"), (ICD10CM, "M54.99"), (LOINC, "8310-4"), (CPT, "72141"), (CPT, "72141")])
    issues, checked = check_valueset_codes(tmp_path)
    lines = path.read_text().splitlines()
    assert checked == 5
    by_code = {i.message.split("'")[1]: i for i in issues}
    assert '"M54.99"' in lines[by_code["M54.99"].line - 1] and by_code["M54.99"].severity == "error"
    assert '"8310-4"' in lines[by_code["8310-4"].line - 1]
    duplicate = by_code["72141"]
    assert duplicate.severity == "warning" and "listed twice" in duplicate.message
    assert all(i.file == str(path) for i in issues)
