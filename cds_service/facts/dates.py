"""Dates from FHIR values: date, dateTime, Period, all reduced to a calendar date (from models or JSON)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
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


# Where an entry's clinical date is read from, in order (``Entry.when``); True: a Period's start.
WHEN_ELEMENTS = (
    ("onsetDateTime", False), ("onsetPeriod", True), ("performedDateTime", False), ("performedPeriod", True),
    ("effectiveDateTime", False), ("effectivePeriod", True), ("effectiveInstant", False),
    ("occurrenceDateTime", False), ("occurrencePeriod", True), ("started", False), ("authoredOn", False),
    ("recordedDate", False), ("issued", False), ("dateAsserted", False),
)  # fmt: skip
UNSURE = object()  # stated_date: the JSON holds a date in a form only validation can read


def stated_date(raw: Mapping[str, Any]) -> date | None | object:
    """The date ``Entry.when`` gives ``raw`` once validated, read from the JSON without validating.

    A valid FHIR date, dateTime or instant string of 10 or more characters starts with its
    calendar date, which is what the model's value reduces to; shorter (partial) dates reduce to
    nothing either way. Any other JSON value (a number, an object where a string belongs) is
    ``UNSURE``: only the model can say. So for every entry that validates, this is its ``when``.
    """
    for name, is_period in WHEN_ELEMENTS:
        value = raw.get(name)
        if value is not None and is_period:
            if type(value) is not dict:
                return UNSURE
            value = value.get("start")
        if value is None:
            continue
        if type(value) is not str:
            return UNSURE
        if len(value) >= 10:  # what ``as_date`` reads of a string
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                return UNSURE  # not a date: the entry fails validation, which is the model's to say
    return None


# A Condition's onset[x] choices. Only a full onsetDateTime and an onsetPeriod's start give the calendar
# date the pain began; an age spans a year, a range years, a string is free text, a partial date a
# month or a year, and a period with only an end says when it had begun by.
ONSET_ELEMENTS = ("onsetDateTime", "onsetPeriod", "onsetAge", "onsetRange", "onsetString")


def onset_unread(raw: Mapping[str, Any]) -> bool:
    """Whether a Condition's JSON states an onset that gives no calendar date (``ONSET_ELEMENTS``):
    then its recordedDate is not when it began, only when it was written down. As ``Entry.when``
    reads a valid entry: a full onsetDateTime or onsetPeriod start is understood, anything else is not."""
    for name in ONSET_ELEMENTS:
        value = raw.get(name)
        if value is None:
            continue
        if name == "onsetPeriod":
            value = value.get("start") if type(value) is dict else None
        return name not in ("onsetDateTime", "onsetPeriod") or as_date(value) is None
    return False


def whole_years(born: date, today: date) -> int:
    """Age in whole years on ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


_PARTIAL_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?")


def birth_span(value: Any) -> tuple[date, date] | None:
    """The first and last day a FHIR ``date`` (a model value: ``date``, or ``YYYY`` / ``YYYY-MM`` as
    text) may stand for; None when absent or not a date."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value, value
    match = _PARTIAL_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year = int(match.group(1))
    if match.group(2) is None:
        return date(year, 1, 1), date(year, 12, 31)
    month = int(match.group(2))
    if not 1 <= month <= 12:
        return None
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def ages_on(born: Any, today: date) -> tuple[int, int] | None:
    """The youngest and oldest whole-year age on ``today`` of someone born on ``born`` (a FHIR
    ``date``: a full date gives one age, ``YYYY`` or ``YYYY-MM`` every age a day of it gives). None
    when the birth date is absent, not a date, or wholly after ``today``; a span reaching past today
    counts its days up to today only (the patient is born)."""
    span = birth_span(born)
    if span is None or span[0] > today:
        return None
    first, last = span
    return whole_years(min(last, today), today), whole_years(first, today)


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
