"""Codes and text are read from raw CodeableConcept JSON, sloppy shapes included."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from cds_service.facts.codes import raw_codings, raw_text

SCT = "http://snomed.info/sct"


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"coding": [{"system": SCT, "code": "1"}, {"code": "2"}]}, [(SCT, "1"), (None, "2")]),
        ({"coding": {"system": SCT, "code": "1"}}, [(SCT, "1")]),  # one object where a list belongs
        ([{"coding": [{"system": SCT, "code": "1"}]}, {"coding": [{"system": SCT, "code": "2"}]}], [(SCT, "1"), (SCT, "2")]),
        (OrderedDict(coding=[OrderedDict(system=SCT, code="3")]), [(SCT, "3")]),  # any mapping
        ({"coding": [{"system": SCT, "code": 4}, {"system": 5, "code": "5"}, "6", None]}, []),  # wrong types dropped
        ({"coding": "7"}, []),
        ("text", []),
        (None, []),
    ],
)
def test_raw_codings(concept: Any, expected: list[tuple[str | None, str]]) -> None:
    """Each coding with a string code (and a string or no system) is read; anything else is passed over."""
    assert raw_codings(concept) == expected


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"text": " Neck pain ", "coding": [{"display": "Cervicalgia"}]}, "Neck pain Cervicalgia"),
        ({"text": "Cervicalgia", "coding": [{"display": "cervicalgia "}, {"display": "Cervicalgia"}]}, "Cervicalgia"),
        ({"coding": [{"display": "Ibuprofen 400 MG"}]}, "Ibuprofen 400 MG"),
        ({"text": "  ", "coding": [{"display": ""}, {"display": 3}, "x"]}, ""),
        ([{"text": "A"}, {"text": "B"}], "A B"),
        (OrderedDict(text="Mapped"), "Mapped"),
        ("text", ""),
    ],
)
def test_raw_text(concept: Any, expected: str) -> None:
    """The text and the displays, trimmed, each said once whatever its case, in order."""
    assert raw_text(concept) == expected
