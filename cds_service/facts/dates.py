"""Dates from FHIR values: date, dateTime, Period, all reduced to a calendar date."""

from __future__ import annotations

import calendar
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


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months (clamped to the month's last day: Jan 31 + 1 → Feb 28/29)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def whole_months(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and add_months(start, months) > end:
        months -= 1
    elif months < 0 and add_months(start, months) < end:
        months += 1
    return months
