"""The per-process models of validated resources: the same bytes give the same model, anything else validates anew."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.fhir import parse
from cds_service.fhir.parse import clear_validated, parse_resource


def condition(code: str = "M54.2") -> dict[str, Any]:
    return {
        "resourceType": "Condition", "id": "kept-1", "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
    }  # fmt: skip


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the resources actually validated (not served from the kept models), from a clean start."""
    clear_validated()
    seen: list[str] = []
    original = parse._validated

    def counting(raw: dict[str, Any], *args: Any) -> Any:
        seen.append(raw.get("id"))
        return original(raw, *args)

    monkeypatch.setattr(parse, "_validated", counting)
    return seen


def test_the_same_bytes_are_validated_once_and_give_the_same_model(validations: list[str]) -> None:
    """A resource sent again (a later request's own dict) is served the model its first validation built."""
    first = parse_resource(condition(), ("Condition",), None, {})
    again = parse_resource(condition(), ("Condition",))
    assert first is not None and again is first and validations == ["kept-1"]


def test_a_changed_resource_is_validated_anew(validations: list[str]) -> None:
    """One code changed is other bytes: validated again, to its own model."""
    first = parse_resource(condition("M54.2"), ("Condition",))
    other = parse_resource(condition("M54.6"), ("Condition",))
    assert other is not first and other.code.coding[0].code == "M54.6" and len(validations) == 2


def test_an_invalid_resource_is_validated_and_logged_every_time(validations: list[str], caplog: pytest.LogCaptureFixture) -> None:
    """A resource that fails is never kept: each request validates it, and logs it skipped, again."""
    bad = condition()
    bad["subject"] = "Patient/p1"  # a string where a Reference is required
    assert parse_resource(copy.deepcopy(bad), ("Condition",)) is None
    assert parse_resource(copy.deepcopy(bad), ("Condition",)) is None
    assert validations == ["kept-1", "kept-1"]
    assert sum(r.getMessage() == "skipped invalid resource" for r in caplog.records) == 2


def test_the_projection_is_what_is_kept(validations: list[str]) -> None:
    """Two resources that differ only in an element the projection leaves out share one model; a whole one does not."""
    noted = {**condition(), "note": [{"text": "seen in clinic"}]}
    projected = parse_resource(condition(), ("Condition",), frozenset({"code", "clinicalStatus"}))
    assert parse_resource(noted, ("Condition",), frozenset({"code", "clinicalStatus"})) is projected
    whole = parse_resource(noted, ("Condition",))
    assert whole is not projected and whole.note[0].text == "seen in clinic" and len(validations) == 2


def test_the_kept_models_are_bounded(validations: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``VALIDATED_MAX`` models the least recently used is dropped, and validated again when it comes back."""
    monkeypatch.setattr(parse, "VALIDATED_MAX", 2)
    for code in ("M54.2", "M54.6", "M54.2", "M54.9", "M54.6"):
        parse_resource(condition(code), ("Condition",))
    assert len(parse._VALIDATED) == 2
    assert validations == ["kept-1"] * 4  # M54.2, M54.6, M54.9, then M54.6 again (dropped by M54.9)


def test_an_element_value_is_shared_across_requests_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another patient's Condition (a new memo) with the same code gets the code model an earlier request built;
    past ``ELEMENTS_MAX`` the least recently used element is dropped."""
    clear_validated()
    first = parse_resource(condition(), ("Condition",), None, {})
    other = {**condition(), "id": "kept-2", "subject": {"reference": "Patient/p2"}}
    second = parse_resource(other, ("Condition",), None, {})
    assert second is not first and second.code is first.code and second.subject is not first.subject
    monkeypatch.setattr(parse, "ELEMENTS_MAX", 3)
    parse_resource({**condition("M54.6"), "id": "kept-3"}, ("Condition",), None, {})
    assert len(parse._ELEMENTS) == 3


def test_references_are_shared_within_a_request_only() -> None:
    """A patient's subject reference is validated once per request, and never kept for the next patient's request."""
    clear_validated()
    memo: dict[object, object] = {}
    first = parse_resource(condition(), ("Condition",), None, memo)
    again = parse_resource({**condition("M54.6"), "id": "kept-2"}, ("Condition",), None, memo)
    assert again.subject is first.subject
    assert [key[1] for key in parse._ELEMENTS if key[1] == "subject"] == []
    other = parse_resource({**condition(), "id": "kept-3"}, ("Condition",), None, {})  # the next request
    assert other.code is first.code and other.subject is not first.subject
