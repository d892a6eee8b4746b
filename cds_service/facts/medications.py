"""Medication entries (MedicationRequest / MedicationStatement) → ``Medication`` facts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from cds_service.facts.codes import Coding
from cds_service.facts.dates import first_date, period_end, period_start
from cds_service.facts.dosage import dose_of
from cds_service.facts.model import Medication
from cds_service.fhir.parse import element
from cds_service.terminology import Terminology
from cds_service.terminology.drugnames import is_extended_release, route_of

_ACTIVE = {"active", "on-hold", "intended", "draft"}
_NOT_TAKEN = "not-taken"  # a MedicationStatement's: the drug was not taken
_UNKNOWN = "unknown"  # whether the drug is still taken is not known


def _add_days(start: date, days: float) -> date | None:
    """``start`` plus ``days``; None when that is no date (a supply past year 9999, or not a number)."""
    try:
        return start + timedelta(days=days)
    except (OverflowError, ValueError):
        return None


def to_medication(
    terminology: Terminology,
    ref: str,
    display: str,
    model: Any,
    ingredients: frozenset[str],
    valuesets: frozenset[str],
    codings: Sequence[Coding],
) -> Medication:
    """The ``Medication`` fact of a validated medication resource whose drug has ``codings``."""
    product = terminology.rxnorm.product_for(codings)  # the first known product, under any name of RxNorm
    strength = None
    if product is not None and len(product.ingredients) == 1 and product.strengths_mg:
        strength = product.strengths_mg[0]
    dose = dose_of(model, strength)
    start = first_date(
        element(model, "authoredOn"),
        period_start(element(model, "effectivePeriod")),
        element(model, "effectiveDateTime"),
        element(model, "dateAsserted"),
    )
    end = period_end(element(model, "effectivePeriod"))
    dispense = element(model, "dispenseRequest")
    if end is None and dispense is not None:
        end = period_end(dispense.validityPeriod)
    if end is None and start is not None and dose.total_days is not None and model.status not in _ACTIVE:
        end = _add_days(start, dose.total_days)
    route: str | None
    if product is not None:
        route, extended = product.route, product.extended_release
    else:  # no known product code: dose-form words in the text ("topical gel", "ER") say it
        route = route_of(display)
        extended = is_extended_release(display, route, ingredients)
    return Medication(
        ref=ref,
        display=display,
        ingredients=ingredients,
        valuesets=valuesets,
        active=model.status in _ACTIVE,
        start=start,
        end=end,
        dose=dose,
        extended_release=extended,
        route=route,
    )


def end_unknown_within(med: Medication, status: str | None, today: date, days: int) -> bool:
    """Whether a medication that is not active could still have been taken within ``days`` before ``today``, the
    record not saying when it ended: of unknown status, or with no end and a start in that window or none."""
    if med.active or med.end is not None or status == _NOT_TAKEN:
        return False
    return status == _UNKNOWN or med.start is None or (today - med.start).days <= days


def taken_within(med: Medication, status: str | None, today: date, days: int | None) -> bool:
    """Whether a medication was or could have been taken within ``days`` before ``today`` (None: today): active,
    of unknown status, ended within them, or ``end_unknown_within`` them."""
    if med.active or status == _UNKNOWN:
        return True
    if days is None or status == _NOT_TAKEN:
        return False
    if med.end is not None:
        return (today - med.end).days <= days
    return end_unknown_within(med, status, today, days)
