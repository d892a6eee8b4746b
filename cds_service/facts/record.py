"""Select and validate the record entries the rules can use.

Raw prefetch JSON is classified by value set first (a dict lookup per coding); only resources
that fall in some value set — plus the Patient — are validated with ``fhir.resources``, and of
those only the elements the fact code reads (``READ_ELEMENTS``) and what their type requires.
An entry is validated when a fact first reads it (facts/build.py), so entries no rule asks about
cost their classification only. A resource whose validated part fails is skipped and logged,
never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from cds_service.facts.codes import CONCEPTS_KEPT, CodeIndex, raw_codings, raw_text
from cds_service.facts.dates import UNSURE, WHEN_ELEMENTS, as_date, first_date, period_end, period_start, stated_date
from cds_service.facts.medrefs import MedicationIndex, drug_concept
from cds_service.facts.model import RED_FLAG_SETS
from cds_service.facts.unreadable import Unreadable, unreadable_concept
from cds_service.fhir.parse import element, parse_resource, resource_class

log = logging.getLogger(__name__)

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
# Per coded type: its code field and its kind of concept (0 other, 1 medication, 2 condition).
_CODED = {t: (f, 1 if t in MEDICATION_TYPES else 2 if t == "Condition" else 0) for t, f in _CODE_FIELD.items()}
# value sets, ingredient codes, text (stripped), names a red flag, holds nothing readable
# (``unreadable_concept``), the facts its text names (``Record.named``)
Classified = tuple[frozenset[str], frozenset[str], str, bool, bool, frozenset[str]]

# The top-level elements of record resources that the fact code reads from ``Entry.model``
# (this module, build.py, medications.py, dosage.py). Only these — plus what the type requires
# and the modifiers — are validated and kept in the model: narrative, identifiers, meta,
# extensions, encounter, performers … are never parsed. READ A NEW ELEMENT? ADD IT HERE FIRST,
# or it reads as absent (tests/unit/test_record_projection.py checks the fact code for this).
READ_ELEMENTS = frozenset({
    "status", "verificationStatus", "clinicalStatus", "bodySite", "code", "procedureCode",
    "onsetDateTime", "onsetPeriod", "abatementDateTime", "recordedDate",
    "performedDateTime", "performedPeriod", "effectiveDateTime", "effectivePeriod", "effectiveInstant",
    "occurrenceDateTime", "occurrencePeriod", "started", "authoredOn", "issued", "dateAsserted",
    "valueQuantity", "medicationCodeableConcept", "dosageInstruction", "dosage", "dispenseRequest",
})
# Of the Patient, the facts read the age (and ``id``): names, addresses, identifiers are never parsed.
PATIENT_ELEMENTS = frozenset({"birthDate"})


@dataclass(slots=True, unsafe_hash=True)  # read, never changed: hashed like a frozen one, built faster
class Entry:
    """One record entry in at least one value set; its model is validated when first read.

    ``valid`` and ``usable`` (valid, not void) validate on first use. Fact code filters entries by
    type, value set and stated date first, so entries no fact reads are never validated.
    """

    ref: str
    resource_type: str
    valuesets: frozenset[str]
    display: str
    raw: dict[str, Any] = field(compare=False, repr=False)
    ingredients: frozenset[str] = frozenset()
    _shared: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)  # the request's memo
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    drug: Any = field(default=None, compare=False, repr=False)  # a medication's drug concept, however referenced

    def in_any(self, *valuesets: str) -> bool:
        return not self.valuesets.isdisjoint(valuesets)

    @property
    def model(self) -> Any | None:
        """The validated model (READ_ELEMENTS only), None when invalid (logged once)."""
        memo = self._memo
        if "model" not in memo:
            memo["model"] = parse_resource(self.raw, (self.resource_type,), READ_ELEMENTS, self._shared)
        return memo["model"]

    @property
    def valid(self) -> bool:
        return self.model is not None

    @property
    def usable(self) -> bool:
        # An entry whose JSON states a void status is unusable whether or not it validates: not validated.
        memo = self._memo
        found: bool | None = memo.get("usable")
        if found is None:
            found = memo["usable"] = not self.stated_void and self.valid and not self.void
        return found

    @property
    def stated_void(self) -> bool:
        """The JSON plainly states a void status or verification status (``entered-in-error``,
        ``refuted``, …). Validation does not change codes, so such an entry is void if it validates
        and unusable if it does not: either way it is passed over, unvalidated."""
        memo = self._memo
        if "stated_void" not in memo:
            raw = self.raw
            status = raw.get("status")
            memo["stated_void"] = (type(status) is str and status in _VOID) or _states_code(raw.get("verificationStatus"), _VOID)
        return bool(memo["stated_void"])

    @property
    def states_value(self) -> bool:
        """The JSON states a ``value[x]`` (an observation with none is no reading, whether or not it validates)."""
        return any(name.startswith("value") for name in self.raw)

    @property
    def stated_inactive(self) -> bool:
        """The JSON plainly states an inactive clinical status (or a void one): not active, whether or not it validates."""
        return self.stated_void or _states_code(self.raw.get("clinicalStatus"), _INACTIVE_CONDITION)

    @property
    def date_key(self) -> date | None:
        """``when`` for ordering and windows, without validating where the JSON states it plainly."""
        memo = self._memo
        if "date_key" not in memo:
            stated = stated_date(self.raw)
            if stated is UNSURE:
                stated = self.when if self.model is not None else None
            memo["date_key"] = stated
        return memo["date_key"]  # type: ignore[no-any-return]

    @property
    def status(self) -> str | None:
        status: str | None = element(self.model, "status")
        return status

    @property
    def void(self) -> bool:
        memo = self._memo
        if "void" not in memo:
            verification = element(self.model, "verificationStatus")
            memo["void"] = self.status in _VOID or bool(
                verification and any(c.code in _VOID for c in verification.coding or [])
            )
        return bool(memo["void"])

    @property
    def active_condition(self) -> bool:
        status = element(self.model, "clinicalStatus")
        codes = {c.code for c in status.coding or []} if status is not None else set()
        return not self.void and not (codes & _INACTIVE_CONDITION)

    @property
    def when(self) -> date | None:
        """The entry's clinical date: onset, performed, effective, authored or started (``WHEN_ELEMENTS``,
        in order: the first that holds a date)."""
        memo = self._memo
        if "when" in memo:
            return memo["when"]  # type: ignore[no-any-return]
        m = self.model
        found = None
        for name, is_period in WHEN_ELEMENTS:
            value = element(m, name)
            if value is not None:
                found = period_start(value) if is_period else as_date(value)
                if found is not None:
                    break
        memo["when"] = found
        return found

    @property
    def onset(self) -> date | None:
        """A Condition's onset only (never its recordedDate): when the condition began, if stated."""
        m = self.model
        return first_date(element(m, "onsetDateTime"), period_start(element(m, "onsetPeriod")))

    @property
    def ended(self) -> date | None:
        m = self.model
        return first_date(
            element(m, "abatementDateTime"),
            period_end(element(m, "effectivePeriod")),
            period_end(element(m, "performedPeriod")),
        )


def _states_code(concept: Any, codes: set[str]) -> bool:
    """A raw CodeableConcept has a coding whose code is one of ``codes`` (read as the model reads it)."""
    return concept is not None and any(code in codes for _, code in raw_codings(concept))


@dataclass(frozen=True)
class Record:
    """The Patient (validated) and the record's entries in some value set (validated when used)."""

    patient: Any | None
    candidates: tuple[Entry, ...]
    # Medication entries whose medicationReference could not be resolved: (entry reference, display or "").
    unresolved: tuple[tuple[str, str], ...] = ()
    _by_set: dict[str, list[int]] = field(default_factory=dict, compare=False, repr=False)
    # Conditions and medications whose code is in no red-flag value set but whose text names a
    # red-flag concept (cards/_red_flag_terms.yaml); never validated, any status.
    unrecognised: tuple[Entry, ...] = ()
    # Entries that could show a red flag but cannot be read at all (facts/unreadable.py): no known type, no readable code.
    unreadable: tuple[Entry, ...] = ()
    # Medication entries that name no drug — an unresolved medicationReference without a display, no
    # medication[x] — void ones apart; in no value set, validated when read. Any drug could be theirs.
    unidentified: tuple[Entry, ...] = ()
    # Entries whose text names a patient fact's concept (cards/_fact_terms.yaml), per fact, whether
    # or not their code is in some value set; never validated, any status (``named``).
    _named: dict[str, tuple[Entry, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        by_set = self._by_set
        for position, entry in enumerate(self.candidates):
            for vs_id in entry.valuesets:
                found = by_set.get(vs_id)
                if found is None:
                    by_set[vs_id] = [position]
                else:
                    found.append(position)

    def named(self, fact: str, *types: str, coded: bool = False) -> tuple[Entry, ...]:
        """Entries (of ``types``, or any) whose code is in no value set but whose text names ``fact``'s
        concept (a ``_fact_terms.yaml`` group): they could establish the fact, but were not understood.
        ``coded``: also those whose code is in some value set (perhaps not the fact's: "Radiculopathy,
        thoracic region" is in ``neuropathic-pain``, not in ``cervical-radiculopathy``)."""
        found = self._named.get(fact, ())
        return tuple(e for e in found if (coded or not e.valuesets) and (not types or e.resource_type in types))

    @property
    def entries(self) -> tuple[Entry, ...]:
        """Every valid entry (validating them all)."""
        return tuple(e for e in self.candidates if e.valid)

    def of(self, *types: str) -> Iterable[Entry]:
        """Usable entries of ``types``, in record order."""
        return (e for e in self.candidates if e.resource_type in types and e.usable)

    def candidates_in(self, types: tuple[str, ...], *valuesets: str) -> list[Entry]:
        """Entries of ``types`` in any of ``valuesets``, in record order, not validated."""
        by_set = self._by_set
        if len(valuesets) == 1:
            positions = by_set.get(valuesets[0])
            if positions is None:
                return []
        else:
            lists = [by_set[vs] for vs in valuesets if vs in by_set]
            if not lists:
                return []
            positions = lists[0] if len(lists) == 1 else sorted(set().union(*lists))
        entries = self.candidates
        return [entries[i] for i in positions if entries[i].resource_type in types]

    def in_sets(self, types: tuple[str, ...], *valuesets: str) -> list[Entry]:
        """Usable entries of ``types`` in any of ``valuesets``, in record order (these are validated)."""
        return [e for e in self.candidates_in(types, *valuesets) if e.usable]


def select_record(
    resources: Mapping[str, list[dict[str, Any]]],
    index: CodeIndex,
    patient_id: str,
    medications: MedicationIndex | None = None,
) -> Record:
    """The Patient, validated, and every coded entry in some value set, to be validated when read;
    entries in no value set are never parsed. A medication's ``medicationReference`` resolves to a
    contained Medication or one in ``medications`` (by default: those among ``resources``).
    Conditions and medications in no red-flag value set whose text names a red flag are kept apart
    (``Record.unrecognised``), unparsed. A resource given twice (under two keys, or as a match and an
    include) is read once; two different resources under one reference are both read — either may
    be the current one, so a red flag in either counts (logged as a count only)."""
    if medications is None:
        medications = MedicationIndex(*resources.values())
    patient = None
    entries: list[Entry] = []
    unresolved: list[tuple[str, str]] = []
    unrecognised: list[Entry] = []
    unidentified: list[Entry] = []
    by_ref: dict[str, list[dict[str, Any]]] = {}  # per reference, the different resources read under it
    conflicting = 0
    memo: dict[Any, Any] = {}  # repeated element values of this record are validated once
    # Records repeat codes (refills, serial labs), and so do patients: each distinct concept is
    # classified once per content load, per kind: [other, medication, condition] (only medications'
    # and conditions' texts are read for red-flag words).
    concepts = index.classified
    unreadable = Unreadable()
    named: dict[str, list[Entry]] = {}
    for source, items in resources.items():
        for raw in items:
            if type(raw) is not dict and not isinstance(raw, dict):
                continue
            resource_type: Any = raw.get("resourceType")
            coded = _CODED.get(resource_type) if type(resource_type) is str else None
            if coded is None:
                if resource_type == "Patient" and patient is None and raw.get("id") == patient_id:
                    patient = parse_resource(raw, ("Patient",), PATIENT_ELEMENTS, memo)
                elif resource_class(resource_type) is None:
                    unreadable.note(source, "resourceType", raw)
                continue
            code_field, kind = coded
            concept = raw.get(code_field)
            is_medication = kind == 1
            if concept is None and is_medication:
                concept, missing = drug_concept(raw, medications)
                status = raw.get("status")
                if not (type(status) is str and status in _VOID):  # entered-in-error says nothing
                    ref = f"{resource_type}/{raw.get('id') or '?'}"
                    if missing is not None:
                        unresolved.append((ref, concept["text"] if concept else ""))
                    if concept is None:
                        unidentified.append(Entry(ref, resource_type, frozenset(), ref, raw, _shared=memo))
            seen = concepts[kind]
            try:
                key: bytes | None = orjson.dumps(concept)
            except TypeError:  # not JSON (only when called with Python objects)
                key = None
            classified = seen.get(key) if key is not None else None
            if classified is None:
                classified = _classify(concept, kind, index)
                if key is not None:
                    if len(seen) >= CONCEPTS_KEPT:
                        seen.clear()
                    seen[key] = classified
            valuesets, ingredients, text, unread, unreadable_code, names = classified
            if resource_type == "ImagingStudy" and not valuesets:  # no procedure code known: what it says it shows
                text, names = _described_study(raw, index)
            if valuesets or unread or names:
                ref = f"{resource_type}/{raw.get('id') or '?'}"
                same_ref = by_ref.get(ref)
                if same_ref is None:
                    by_ref[ref] = [raw]
                elif any(other == raw for other in same_ref):
                    continue  # the same resource again: read once
                else:
                    same_ref.append(raw)
                    conflicting += 1
                entry = Entry(
                    ref, resource_type, valuesets, text or ref, raw, ingredients, _shared=memo,
                    drug=concept if is_medication else None,
                )  # fmt: skip
                if valuesets:
                    entries.append(entry)
                if unread:
                    unrecognised.append(entry)
                for fact in names:
                    named.setdefault(fact, []).append(entry)
            elif unreadable_code:
                unreadable.note(source, code_field, raw)
    unreadable.log()
    if conflicting:  # counted, never named
        log.info("different resources under one reference", extra={"conflicting_count": conflicting})
    if unresolved:  # counted, never named: references and displays may identify the patient
        log.info("medication references unresolved", extra={"unresolved_count": len(unresolved)})
    unread_entries = tuple(Entry(ref, stands_for, frozenset(), ref, raw) for ref, stands_for, raw in unreadable.found)
    return Record(
        patient, tuple(entries), tuple(unresolved), unrecognised=tuple(unrecognised), unreadable=unread_entries,
        unidentified=tuple(unidentified),
        _named={fact: tuple(found) for fact, found in named.items()},
    )  # fmt: skip


def _classify(concept: Any, kind: int, index: CodeIndex) -> Classified:
    """(value sets, ingredient codes, text, names a red flag, holds nothing readable, facts it names)
    of a raw code concept of a kind (0 other, 1 medication, 2 condition); text only when in a value
    set or naming a fact. A medication's or condition's concept in no red-flag value set names a red
    flag when its text does; a concept of any kind names the facts its text does."""
    codings = raw_codings(concept)
    if kind == 1:
        text = raw_text(concept)
        ingredients, valuesets = index.of_medication(codings, text)
    else:
        valuesets, ingredients = index.of_codings(codings), frozenset()
        text = raw_text(concept) if valuesets else ""
    unread = kind != 0 and valuesets.isdisjoint(RED_FLAG_SETS) and index.concept_names_red_flag(concept)
    names = index.concept_names_facts(concept)
    if names and not text:
        text = raw_text(concept)
    return valuesets, ingredients, text.strip(), unread, not valuesets and not unread and unreadable_concept(concept), names


def _described_study(raw: dict[str, Any], index: CodeIndex) -> tuple[str, frozenset[str]]:
    """An ImagingStudy's own words for what it shows — its procedureCode text, description, and each
    series' description, modality and body site — and the facts they name; ("", none) when they name none."""
    parts = [raw_text(raw.get("procedureCode")), raw.get("description")]
    series = raw.get("series")
    for item in series if type(series) is list else ():
        if type(item) is dict:
            parts.append(item.get("description"))
            modality, site = item.get("modality"), item.get("bodySite")
            if type(modality) is dict:
                parts.append(modality.get("display") or modality.get("code"))  # DICOM "MR", "CT"
            if type(site) is dict:
                parts.append(site.get("display"))
    text = " ".join(p.strip() for p in parts if type(p) is str and p.strip())
    names = index.concept_names_facts({"text": text}) if text else frozenset()
    return (text, names) if names else ("", frozenset())


def observation_value(entry: Entry) -> tuple[float | None, str | None]:
    quantity = element(entry.model, "valueQuantity")
    if quantity is None or quantity.value is None:
        return None, None
    return float(quantity.value), (quantity.code or quantity.unit)


__all__ = ["Entry", "Record", "select_record", "observation_value", "as_date"]
