"""``LazyFacts``: ``PatientFacts`` whose fields are worked out when a rule first reads them.

The rules of one hook call read a fraction of the facts (an MRI order never asks about heart
failure or NSAIDs), and a fact costs the validation of the record entries behind it. A
``LazyFacts`` computes each field with ``compute(name, facts)`` on its first read and keeps the
value, so every fact is computed at most once and only if read. To rules and cards it is an
ordinary (frozen) ``PatientFacts``: equality, ``repr`` and ``has`` work as there.

``compute`` receives the facts object instead of holding it, so no reference cycle keeps a
request's record alive after the request (the collector runs rarely, see ``app.GC_THRESHOLDS``).

``active_in`` (the medications on record in some drug value sets) reads only the entries in those
sets (``active_meds``): a rule about an NSAID order validates the record's anticoagulants, not its
opioids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import date
from typing import Any

from cds_service.facts.model import Medication, PatientFacts

Compute = Callable[[str, "LazyFacts"], Any]
ActiveMeds = Callable[[tuple[str, ...]], tuple[Medication, ...]]


class _OnFirstRead:
    """A field of ``LazyFacts``: computed on first read, then kept in the instance, which shadows
    this (non-data) descriptor from then on."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: LazyFacts | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__["_compute"](self.name, instance)
        instance.__dict__[self.name] = value
        return value


class LazyFacts(PatientFacts):
    """The facts of one request, each computed from the record when first read."""

    def __init__(self, today: date, available: frozenset[str], compute: Compute, active_meds: ActiveMeds) -> None:  # noqa: D107
        self.__dict__.update(today=today, available=available, _compute=compute, _active_meds=active_meds)

    def active_in(self, *valuesets: str) -> tuple[Medication, ...]:
        """As ``PatientFacts.active_in``, validating only the record's entries in ``valuesets``."""
        found: tuple[Medication, ...] = self.__dict__["_active_meds"](valuesets)
        return found


LAZY_FIELDS = tuple(f.name for f in fields(PatientFacts) if f.name not in ("today", "available"))
for _name in LAZY_FIELDS:
    setattr(LazyFacts, _name, _OnFirstRead(_name))
