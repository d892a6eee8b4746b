"""Dates from FHIR values: date, dateTime, Period, all reduced to a calendar date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def as_date(value: Any) -> date | None:
    """A calendar date from a FHIR date/dateTime (model value or string); None if absent or partial."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def first_date(*values: Any) -> date | None:
    for value in values:
        found = as_date(value)
        if found is not None:
            return found
    return None


def period_start(period: Any) -> date | None:
    return None if period is None else as_date(getattr(period, "start", None))


def period_end(period: Any) -> date | None:
    return None if period is None else as_date(getattr(period, "end", None))


def whole_years(born: date, today: date) -> int:
    """Age in whole years on ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
