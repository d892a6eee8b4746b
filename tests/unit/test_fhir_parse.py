"""Lenient validation: any failure of validating one resource means "invalid", skipped and logged by
type and field path, never a client's text."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cds_service.fhir.parse import UNKNOWN_ELEMENT, is_fhir_id, parse_resource, resource_class

MARK = "Quagmirexyz"


def service_request(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest", "id": "o1", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "code": {"text": "MRI cervical spine"}, **extra,
    }  # fmt: skip


def skipped(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cds_service.fhir.parse" and r.getMessage().startswith("skipped")]


@pytest.mark.parametrize("memo", [None, {}], ids=["plain", "memo"])
@pytest.mark.parametrize("contained_type", [MARK, "", "patient", True, 1.5, None, {"a": 1}])
def test_contained_resource_of_unknown_type_makes_the_resource_invalid(
    caplog: pytest.LogCaptureFixture, contained_type: Any, memo: dict[Any, Any] | None
) -> None:
    """fhir.resources raises KeyError/TypeError for such a contained resource: it is skipped and logged, never raised."""
    raw = service_request(contained=[{"resourceType": contained_type, "id": "x"}])
    with caplog.at_level(logging.WARNING):
        assert parse_resource(raw, ("ServiceRequest",), None, memo) is None
    [record] = skipped(caplog)
    assert record.getMessage() == "skipped invalid resource"
    assert getattr(record, "resource_type") == "ServiceRequest"
    assert getattr(record, "error_type") in {"KeyError", "TypeError"}
    assert MARK not in caplog.text


def test_unknown_resource_type_is_skipped_without_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    """A resourceType no FHIR type has is logged as unknown; the client's string is not in the log."""
    with caplog.at_level(logging.WARNING):
        assert parse_resource(service_request(resourceType=MARK)) is None
        assert parse_resource(service_request(resourceType=MARK), ("ServiceRequest",)) is None
    assert [r.getMessage() for r in skipped(caplog)] == ["skipped resource: unknown type"] * 2
    assert MARK not in caplog.text and all(not hasattr(r, "resource_type") for r in skipped(caplog))


def test_elements_the_type_does_not_have_are_not_named(caplog: pytest.LogCaptureFixture) -> None:
    """An element name the type does not have is the client's text: the logged path says "(unknown element)"."""
    raw = service_request(**{MARK: 1}, subject="Patient/p1")
    with caplog.at_level(logging.WARNING):
        assert parse_resource(raw) is None
    [record] = skipped(caplog)
    assert getattr(record, "fields") == [UNKNOWN_ELEMENT, "subject"]
    assert MARK not in caplog.text


def test_a_valid_resource_still_validates() -> None:
    """The same ServiceRequest without the faults validates, with or without a memo."""
    assert parse_resource(service_request()).id == "o1"
    assert parse_resource(service_request(), ("ServiceRequest",), None, {}).id == "o1"


@pytest.mark.parametrize(
    ("name", "known"),
    [("Condition", True), ("Bundle", True), ("condition", False), ("Coding", False), ("Resource", False),
     ("DomainResource", False), ("", False), (MARK, False), (5, False), (None, False)],
)  # fmt: skip
def test_resource_class_knows_only_concrete_resource_types(name: Any, known: bool) -> None:
    """Only a concrete R4B resource type name has a resource class: not data types, abstract types or other case."""
    assert (resource_class(name) is not None) is known


@pytest.mark.parametrize(
    ("value", "valid"),
    [("o1", True), ("A-1.b", True), ("x" * 64, True), ("x" * 65, False), ("", False), ("o_1", False), ("o 1", False),
     ("o1\n", False), ({"a": None}, False), ([None], False), (5, False), (None, False)],
)  # fmt: skip
def test_is_fhir_id_is_the_fhir_id_datatype(value: Any, valid: bool) -> None:
    """A FHIR id is 1-64 letters, digits, '-' and '.', nothing else (not even a trailing newline)."""
    assert is_fhir_id(value) is valid
