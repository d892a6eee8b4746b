"""A value-set concept the loader's fast path accepts unvalidated is one fhir.resources accepts too."""

from __future__ import annotations

from pathlib import Path

import pytest
from fhir.resources.R4B.valueset import ValueSetComposeIncludeConcept
from pydantic import ValidationError

from cds_service.terminology.canonical import CanonicalBase
from cds_service.terminology.errors import TerminologyError
from cds_service.terminology.valuesets import _Compiler

CODES = ["M54.2", "161", "8310-5", "a b", "a  b", " a", "a ", "", "a\tb", "a\nb", "ü-ß", "x" * 300, "0", "Z85.3|x"]
DISPLAYS = [None, "Cervicalgia", "", " ", "\t", "two  spaces", "line\nbreak", "ü", "x" * 2000]


def _model_accepts(concept: dict[str, object]) -> bool:
    try:
        ValueSetComposeIncludeConcept.model_validate(concept)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("display", DISPLAYS)
def test_fast_path_never_accepts_what_the_model_rejects(code: str, display: str | None) -> None:
    """Every code and display the fast path takes as plain also validates as a ValueSet concept."""
    concept: dict[str, object] = {"code": code} if display is None else {"code": code, "display": display}
    compiler = _Compiler(Path("vs.json"), "{}", {}, CanonicalBase())
    try:
        plain = compiler.plain_concept(concept, ("compose", "include", 0, "concept", 0))
    except TerminologyError:
        plain = False
    if plain:
        assert _model_accepts(concept)


def test_fast_path_takes_ordinary_concepts() -> None:
    """An ordinary code with its display is taken by the fast path (the check above is not vacuous)."""
    compiler = _Compiler(Path("vs.json"), "{}", {}, CanonicalBase())
    assert compiler.plain_concept({"code": "M54.2", "display": "Cervicalgia"}, ("compose",))
