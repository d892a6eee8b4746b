"""cards/_fact_terms.yaml: words naming a patient fact's concept, checked at load, and the record entries
they pick out (in no value set, text naming the fact) kept per fact for the fact code's doubts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cds_service.content.loader import ContentError, load_content
from tests.unit.content_support import cards_with
from cds_service.facts.record import select_record

LOCAL = "http://hospital.example.org/codes"


def terms_dir(tmp_path: Path, text: str) -> Path:
    return cards_with(tmp_path, "_fact_terms.yaml", text)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("terms:\n  physical-therapy:\n    - physiotherapy\n    - 'physio(therapy'\n", 4, "terms.physical-therapy[1]: not a regular expression"),
        ("terms:\n  radiculopathy: []\n", 2, "terms.radiculopathy: the list is empty"),
        ("terms:\n  radiculopathy:\n    - 'x?'\n", 3, "terms.radiculopathy[0]: matches an empty text"),
        ("terms:\n  cervical-fusion:\n    - ACDF\n", 3, "terms.cervical-fusion[0]: write terms in lower case"),
    ],
)
def test_bad_fact_terms_are_rejected_with_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """A fact term that does not compile, an empty group, a term matching an empty text, upper case: rejected at file:line."""
    with pytest.raises(ContentError) as caught:
        load_content(terms_dir(tmp_path, text))
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith(f"{tmp_path / 'cards' / '_fact_terms.yaml'}:{line}: {message}") for p in problems), problems


def procedure(pid: str, coding: dict[str, Any] | None, text: str | None = None) -> dict[str, Any]:
    code: dict[str, Any] = {"coding": [coding]} if coding else {}
    if text:
        code["text"] = text
    return {"resourceType": "Procedure", "id": pid, "status": "completed", "subject": {"reference": "Patient/p1"}, "code": code}


def test_entries_in_no_value_set_whose_text_names_a_fact_are_kept_for_that_fact(tmp_path: Path) -> None:
    """A local-coded or text-only entry naming a fact's concept is kept under that fact, one coded in its value set is not."""
    loaded = load_content(terms_dir(tmp_path, "terms:\n  physical-therapy:\n    - frobnotherapy\n"))
    resources = {
        "procedures": [
            procedure("local", {"system": LOCAL, "code": "PT-1", "display": "Frobnotherapy, neck"}),
            procedure("text", None, "FROBNOTHERAPY session"),
            procedure("coded", {"system": "http://www.ama-assn.org/go/cpt", "code": "97110", "display": "Frobnotherapy exercises"}),
            procedure("other", {"system": LOCAL, "code": "X", "display": "Frobnotherapies"}),
        ]
    }
    record = select_record(resources, loaded.index, "p1")
    assert [e.ref for e in record.named("physical-therapy")] == ["Procedure/local", "Procedure/text"]
    assert record.named("physical-therapy", "ServiceRequest") == ()
    assert record.named("radiculopathy") == ()
    assert [e.ref for e in record.candidates_in(("Procedure",), "physical-therapy")] == ["Procedure/coded"]
