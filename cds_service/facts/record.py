"""Select and validate the record entries the rules can use.

Raw prefetch JSON is classified by value set first (a dict lookup per coding); only resources
that fall in some value set — plus the Patient — are validated with ``fhir.resources``. A
resource that fails validation is skipped and logged, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_service.facts.codes import CodeIndex, raw_codings, raw_text
from cds_service.facts.dates import as_date, first_date, period_end, period_start
from cds_service.fhir.parse import parse_resource

_INACTIVE_CONDITION = {"inactive", "remission", "resolved"}
_VOID = {"entered-in-error", "refuted", "not-done", "cancelled", "revoked"}

# The raw field holding each type's coding, and whether codes are drugs.
_CODE_FIELD = {
    "Condition": "code",
    "Procedure": "code",
    "ServiceRequest": "code",
    "Observation": "code",
    "ImagingStudy": "procedureCode",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationStatement": "medicationCodeableConcept",
}
MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement")


@dataclass(frozen=True, slots=True)
class Entry:
    """One record entry in at least one value set, with its validated model."""

    ref: str
    resource_type: str
    valuesets: frozenset[str]
    display: str
    model: Any
    ingredients: frozenset[str] = frozenset()

    def in_any(self, *valuesets: str) -> bool:
        return not self.valuesets.isdisjoint(valuesets)

    @property
    def status(self) -> str | None:
        return getattr(self.model, "status", None)

    @property
    def void(self) -> bool:
        if self.status in _VOID:
            return True
        verification = getattr(self.model, "verificationStatus", None)
        return bool(verification and any(c.code in _VOID for c in verification.coding or []))

    @property
    def active_condition(self) -> bool:
        status = getattr(self.model, "clinicalStatus", None)
        codes = {c.code for c in status.coding or []} if status is not None else set()
        return not self.void and not (codes & _INACTIVE_CONDITION)

    @property
    def when(self) -> date | None:
        """The entry's clinical date: onset, performed, effective, authored or started."""
        m = self.model
        return first_date(
            getattr(m, "onsetDateTime", None),
            period_start(getattr(m, "onsetPeriod", None)),
            getattr(m, "performedDateTime", None),
            period_start(getattr(m, "performedPeriod", None)),
            getattr(m, "effectiveDateTime", None),
            period_start(getattr(m, "effectivePeriod", None)),
            getattr(m, "occurrenceDateTime", None),
            period_start(getattr(m, "occurrencePeriod", None)),
            getattr(m, "started", None),
            getattr(m, "authoredOn", None),
            getattr(m, "recordedDate", None),
            getattr(m, "issued", None),
            getattr(m, "dateAsserted", None),
        )

    @property
    def ended(self) -> date | None:
        m = self.model
        return first_date(
            getattr(m, "abatementDateTime", None),
            period_end(getattr(m, "effectivePeriod", None)),
            period_end(getattr(m, "performedPeriod", None)),
        )


@dataclass(frozen=True)
class Record:
    patient: Any | None
    entries: tuple[Entry, ...]

    def of(self, *types: str) -> Iterable[Entry]:
        return (e for e in self.entries if e.resource_type in types and not e.void)

    def in_sets(self, types: tuple[str, ...], *valuesets: str) -> list[Entry]:
        return [e for e in self.of(*types) if e.in_any(*valuesets)]


def select_record(resources: Mapping[str, list[dict[str, Any]]], index: CodeIndex, patient_id: str) -> Record:
    """The Patient and every coded entry in some value set, validated; others never parsed."""
    patient = None
    entries: list[Entry] = []
    seen: set[str] = set()
    for items in resources.values():
        for raw in items:
            if not isinstance(raw, dict):
                continue
            resource_type = raw.get("resourceType")
            if resource_type == "Patient":
                if patient is None and raw.get("id") == patient_id:
                    patient = parse_resource(raw, ("Patient",))
                continue
            entry = _entry(raw, resource_type, index)
            if entry is not None and entry.ref not in seen:
                seen.add(entry.ref)
                entries.append(entry)
    return Record(patient, tuple(entries))


def _entry(raw: dict[str, Any], resource_type: Any, index: CodeIndex) -> Entry | None:
    field = _CODE_FIELD.get(resource_type) if isinstance(resource_type, str) else None
    if field is None:
        return None
    concept = raw.get(field)
    codings = raw_codings(concept)
    text = raw_text(concept)
    ingredients: frozenset[str] = frozenset()
    if resource_type in MEDICATION_TYPES:
        ingredients, valuesets = index.of_medication(codings, text)
    else:
        valuesets = index.of_codings(codings)
    if not valuesets:
        return None
    model = parse_resource(raw, (resource_type,))
    if model is None:
        return None
    ref = f"{resource_type}/{raw.get('id') or '?'}"
    return Entry(ref, resource_type, valuesets, text.strip() or ref, model, ingredients)


def observation_value(entry: Entry) -> tuple[float | None, str | None]:
    quantity = getattr(entry.model, "valueQuantity", None)
    if quantity is None or quantity.value is None:
        return None, None
    return float(quantity.value), (quantity.code or quantity.unit)


__all__ = ["Entry", "Record", "select_record", "observation_value", "as_date"]
