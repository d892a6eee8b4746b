"""A feedback request body → the records to store, or a 400 naming the bad fields.

The body is validated with the wire model (``protocol.models.FeedbackRequest``: cds-fb-2, and the
older bare-Coding ``overrideReason``). ``outcomeTimestamp`` must be an ISO 8601 date-time; one
without a time zone is taken as UTC. Error messages carry field paths only, never values.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from cds_service.errors import InvalidRequest, Issue, issues_from_validation
from cds_service.feedback.store import FeedbackRecord
from cds_service.protocol.models import FeedbackItem, FeedbackRequest

MAX_CARD_ID = 128  # the stored column's size; card uuids are 36 characters


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 date-time as an aware UTC datetime (naive values are UTC); ValueError for a date
    alone (``2026-12-05``: no time of the outcome) or anything else."""
    text = value.strip()
    if "T" not in text.upper() and " " not in text:
        raise ValueError("a date without a time")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def to_record(item: FeedbackItem) -> FeedbackRecord:
    """The stored form of one validated feedback item."""
    override = item.override_reason
    reason = override.reason if override is not None else None
    return FeedbackRecord(
        card_uuid=item.card,
        outcome=item.outcome,
        outcome_at=parse_timestamp(item.outcome_timestamp),
        accepted_suggestions=tuple(s.id for s in item.accepted_suggestions or ()),
        override_code=reason.code if reason is not None else None,
        override_system=reason.system if reason is not None else None,
        override_display=reason.display if reason is not None else None,
        user_comment=override.user_comment if override is not None else None,
    )


def parse_feedback(body: Any) -> list[FeedbackRecord]:
    """The feedback items of a request body; raises ``InvalidRequest`` (400) listing every problem."""
    if not isinstance(body, dict):
        raise InvalidRequest.one("body must be a JSON object")
    try:
        request = FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(issues_from_validation(exc)) from None
    issues: list[Issue] = []
    records: list[FeedbackRecord] = []
    for n, item in enumerate(request.feedback):
        if len(item.card) > MAX_CARD_ID:
            issues.append(_issue(f"card identifier longer than {MAX_CARD_ID} characters", n, "card"))
            continue
        try:
            records.append(to_record(item))
        except (ValueError, OverflowError):  # not ISO 8601, or out of range once moved to UTC
            issues.append(_issue("outcomeTimestamp is not an ISO 8601 date-time", n, "outcomeTimestamp"))
    if issues:
        raise InvalidRequest(issues)
    return records


def _issue(message: str, index: int, name: str) -> Issue:
    path = f"feedback.{index}.{name}"
    return Issue(f"{path}: {message}", expression=(path,))
