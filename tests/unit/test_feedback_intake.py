"""Parsing feedback request bodies: the wire model's rules, timestamps, and 400 issues."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from cds_service.errors import InvalidRequest
from cds_service.feedback.intake import parse_feedback

REASON = {"system": "urn:reasons", "code": "pt-elsewhere", "display": "PT elsewhere"}


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-01T09:30:00Z"}
    return base | fields


def test_override_reason_and_comment_are_kept() -> None:
    """overrideReason.reason and userComment become the stored reason code, system, display and comment."""
    [record] = parse_feedback({"feedback": [item(overrideReason={"reason": REASON, "userComment": "seen by PT"})]})
    assert (record.override_code, record.override_system, record.override_display) == (
        "pt-elsewhere", "urn:reasons", "PT elsewhere",
    )
    assert record.user_comment == "seen by PT"
    assert record.outcome_at == datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)


def test_bare_coding_override_reason_is_accepted() -> None:
    """An older client's overrideReason sent as a bare Coding is read as its reason."""
    [record] = parse_feedback({"feedback": [item(overrideReason=REASON)]})
    assert record.override_code == "pt-elsewhere" and record.user_comment is None


def test_accepted_suggestions_are_kept_in_order() -> None:
    """The ids of accepted suggestions are stored in the order sent."""
    [record] = parse_feedback({"feedback": [item(outcome="accepted", acceptedSuggestions=[{"id": "b"}, {"id": "a"}])]})
    assert record.accepted_suggestions == ("b", "a")


def test_accepted_without_suggestions_is_rejected() -> None:
    """cds-fb-2: an accepted outcome without acceptedSuggestions is a 400 naming the item."""
    with pytest.raises(InvalidRequest) as caught:
        parse_feedback({"feedback": [item(outcome="accepted")]})
    assert caught.value.status == 400
    assert "cds-fb-2" in str(caught.value) and caught.value.issues[0].expression == ("feedback.0",)


@pytest.mark.parametrize(
    "body",
    [[], {"feedback": []}, {"feedback": [item(outcome="ignored")]}, {"feedback": [item(card="")]}, {"other": 1}],
)
def test_malformed_bodies_are_rejected(body: Any) -> None:
    """Bodies that are not a non-empty list of valid feedback items raise InvalidRequest."""
    with pytest.raises(InvalidRequest):
        parse_feedback(body)


@pytest.mark.parametrize("stamp", ["yesterday-ish", "2025-13-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "2025-03-01", "20250301"])
def test_timestamp_that_is_not_a_date_time_is_rejected(stamp: str) -> None:
    """An outcomeTimestamp that is not an ISO 8601 date-time in range is a 400 naming the field, not echoing it."""
    with pytest.raises(InvalidRequest) as caught:
        parse_feedback({"feedback": [item(), item(outcomeTimestamp=stamp)]})
    assert caught.value.issues[0].expression == ("feedback.1.outcomeTimestamp",)
    assert stamp not in str(caught.value)


def test_timestamp_without_zone_is_utc() -> None:
    """A local date-time without an offset is taken as UTC; offsets are converted to UTC."""
    [naive, offset] = parse_feedback(
        {"feedback": [item(outcomeTimestamp="2025-03-01T09:30:00"), item(outcomeTimestamp="2025-03-01T10:30:00+01:00")]}
    )
    assert naive.outcome_at == offset.outcome_at == datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)


def test_overlong_card_id_is_rejected() -> None:
    """A card id longer than the stored column is a 400, not a database error."""
    with pytest.raises(InvalidRequest) as caught:
        parse_feedback({"feedback": [item(card="x" * 500)]})
    assert caught.value.issues[0].expression == ("feedback.0.card",)
