"""What a MedicationRequest or MedicationStatement asks for: dose, frequency, days' supply, refills.

Read from ``dosageInstruction`` (timing.repeat, doseAndRate.doseQuantity) and ``dispenseRequest``
(expectedSupplyDuration, quantity, numberOfRepeatsAllowed). Anything not stated stays None:
the rules that need it are then silent rather than guessing.
"""

from __future__ import annotations

from typing import Any

from cds_service.facts.model import Dose
from cds_service.fhir.parse import element

_PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}
_DAYS = {"d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0, "weeks": 7.0, "mo": 30.0, "month": 30.0, "h": 1 / 24}
_UNIT_DOSE = {"{pill}", "{tbl}", "tab", "tablet", "tablets", "{tablet}", "{capsule}", "capsule", "1", "{each}", "each"}


def dose_of(resource: Any, strength_mg: float | None) -> Dose:
    """The Dose a medication resource states; ``strength_mg`` converts tablets to mg."""
    dosage = _first(element(resource, "dosageInstruction") or element(resource, "dosage"))
    per_day, per_dose_units, dose_mg, bound_days = None, None, None, None
    if dosage is not None:
        per_day, bound_days = _frequency(getattr(dosage, "timing", None))
        quantity = _dose_quantity(dosage)
        if quantity is not None and quantity.value is not None:
            unit = (quantity.code or quantity.unit or "").strip()
            if unit.lower() == "mg":
                dose_mg = float(quantity.value)
            elif unit.lower() in _UNIT_DOSE or unit == "":
                per_dose_units = float(quantity.value)
                if strength_mg is not None:
                    dose_mg = per_dose_units * strength_mg
    days_supply, refills = _dispense(element(resource, "dispenseRequest"), per_day, per_dose_units)
    return Dose(dose_mg=dose_mg, doses_per_day=per_day, days_supply=days_supply or bound_days, refills=refills)


def _first(items: Any) -> Any:
    return items[0] if items else None


def _frequency(timing: Any) -> tuple[float | None, float | None]:
    repeat = getattr(timing, "repeat", None) if timing is not None else None
    if repeat is None:
        return None, None
    bound_days = None
    bounds = getattr(repeat, "boundsDuration", None)
    if bounds is not None and bounds.value is not None:
        factor = _DAYS.get((bounds.code or bounds.unit or "").lower())
        bound_days = float(bounds.value) * factor if factor else None
    frequency = repeat.frequencyMax or repeat.frequency
    period, unit = repeat.period, repeat.periodUnit
    if frequency is None or period is None or unit not in _PER_DAY or float(period) <= 0:
        return None, bound_days
    return float(frequency) / float(period) * _PER_DAY[unit], bound_days


def _dose_quantity(dosage: Any) -> Any:
    for dose_and_rate in getattr(dosage, "doseAndRate", None) or []:
        if dose_and_rate.doseQuantity is not None:
            return dose_and_rate.doseQuantity
        if dose_and_rate.doseRange is not None and dose_and_rate.doseRange.high is not None:
            return dose_and_rate.doseRange.high
    return None


def _dispense(dispense: Any, per_day: float | None, per_dose: float | None) -> tuple[float | None, int]:
    if dispense is None:
        return None, 0
    refills = int(dispense.numberOfRepeatsAllowed or 0)
    duration = dispense.expectedSupplyDuration
    if duration is not None and duration.value is not None:
        factor = _DAYS.get((duration.code or duration.unit or "d").lower())
        if factor:
            return float(duration.value) * factor, refills
    quantity = dispense.quantity
    if quantity is not None and quantity.value is not None and per_day and per_dose:
        return float(quantity.value) / (per_day * per_dose), refills
    return None, refills
