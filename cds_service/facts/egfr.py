"""What an eGFR result says, in mL/min/1.73 m² — the unit of every renal cut-off — or why it says nothing
the service understands.

A value is read only in a unit the service knows: mL/min/1.73 m² as UCUM writes it
(``mL/min/{1.73_m2}``) and as EHRs spell it (``mL/min/1.73m2``, ``mL/min/1.73 m²``, ``mL/min per 1.73 m2``,
``mL/min/1.73 sq m``; ``mL/min``, the same number without the body-surface words), or per second
(``mL/s/1.73 m²``, the SI unit some laboratories report), converted by 60 seconds a minute: exact unit
arithmetic, no clinical factor. A Quantity's code and unit text are both read; one that is not
understood is passed over when the other is, and two that disagree leave the value not understood.
A comparator (``>60``) is kept: the value is then a bound (``rules/medications.py`` ``egfr_below``).
"""

from __future__ import annotations

from typing import Any

from cds_service.facts.model import UNREAD_UNIT, UNREAD_VALUE

SECONDS_PER_MINUTE = 60
_PER_MINUTE = frozenset({"ml/min/1.73m2", "ml/minper1.73m2", "ml/min/1.73sqm", "ml/min"})
_PER_SECOND = frozenset({"ml/s/1.73m2", "ml/sper1.73m2", "ml/s/1.73sqm", "ml/s", "ml/sec/1.73m2", "ml/sec"})
COMPARATORS = frozenset({"<", "<=", ">=", ">"})


def _spelled(unit: str) -> str:
    """A unit without the spellings that do not change it: case, spaces, UCUM's braces and underscore, a superscript."""
    folded = unit.lower().replace("²", "2").replace("^2", "2")
    return "".join(c for c in folded if c not in " {}_")


def per_minute(unit: Any) -> float | None:
    """How many mL/min/1.73 m² one of ``unit`` is: 1, 60 (per second); None when the unit is not one of those."""
    if type(unit) is not str:
        return None
    spelled = _spelled(unit)
    if spelled in _PER_MINUTE:
        return 1.0
    if spelled in _PER_SECOND:
        return float(SECONDS_PER_MINUTE)
    return None


def egfr_reading(quantity: Any) -> tuple[float, str | None] | str:
    """(the value in mL/min/1.73 m², its comparator or None) of a validated ``valueQuantity``; else why
    it is not understood: ``UNREAD_VALUE`` (no number, an unknown comparator) or ``UNREAD_UNIT``."""
    if quantity is None or quantity.value is None:
        return UNREAD_VALUE
    comparator = quantity.comparator
    if comparator is not None and comparator not in COMPARATORS:
        return UNREAD_VALUE
    stated = [u for u in (quantity.code, quantity.unit) if type(u) is str and u.strip()]
    factors = {f for f in map(per_minute, stated) if f is not None}
    if len(factors) != 1:  # no unit, none understood, or two that disagree
        return UNREAD_UNIT
    return round(float(quantity.value) * factors.pop(), 2), comparator
