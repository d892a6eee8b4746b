"""Record entries → ``PatientFacts`` (definitions from rules.md, numbers from ``FactParams``).

``build_facts`` returns ``LazyFacts``: each fact is worked out when a rule first reads it, and
only from the entries its definition names. Entries are picked by type, value set and the date
their JSON states (``Entry.date_key``) before any is validated, so a fact that wants the latest
eGFR validates the newest results first and stops past the first one understood, and results outside a
fact's window are never validated. What a fact says is what validating every entry first says:
any entry that validates has the date its JSON states, and invalid or void entries are skipped
where they would have been dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any, TypeVar

from cds_service.facts.dates import ages_on, onset_unread
from cds_service.facts.egfr import egfr_reading
from cds_service.facts.lazy import LazyFacts
from cds_service.facts.medications import end_unknown_within, taken_within, to_medication
from cds_service.facts.codes import raw_codings
from cds_service.facts.model import (
    ACTIVE_BEFORE_WINDOW, AGE_UNKNOWN, END_UNKNOWN, RED_FLAG_SETS, REGION_UNKNOWN, SCOPE_SET, STEROID_DOSE, SYSTEMIC_ROUTES,
    UNDATED, UNREAD_ONSET, UNREAD_VALUE, UNREADABLE, UNRECOGNISED_TEXT, UNRESOLVED_MEDICATION, AgeRange, Fact, Imaging,
    Medication, PatientFacts, RedFlag, all_facts,
)
from cds_service.facts.params import FactParams
from cds_service.facts.pick import (
    IMAGING_SETS, active, cervical_site, dated_within, doubts, earliest, fact, first_dated, imaging, is_fusion, other_region,
    study_done, usable, within,
)
from cds_service.facts.record import MEDICATION_TYPES, Entry, Record, observation_value
from cds_service.fhir.parse import element
from cds_service.terminology import Terminology

T = TypeVar("T")
CONDITION = ("Condition",)
PROCEDURE = ("Procedure",)
OBSERVATION = ("Observation",)
PT_SOURCES = ("Procedure", "ServiceRequest")
IMAGING_SOURCES = ("Procedure", "ServiceRequest", "ImagingStudy")
FUSION_SETS = ("cervical-fusion", "thoracic-fusion", "lumbar-fusion")
# The studies that can confirm root compression: the imaging value sets of CT and MRI.
CT_MRI_SETS = tuple(vs_id for vs_id, (modality, _) in IMAGING_SETS.items() if modality in ("ct", "mri"))
_FAHRENHEIT = {"[degF]", "degF", "°F", "F"}
EGFR_UNIT = "mL/min/1.73m2"  # every eGFR fact's unit (facts/egfr.py)
NEUROPATHIC_SETS = ("neuropathic-pain", "cervical-radiculopathy")
STEROID_SETS = ("systemic-corticosteroids",)


def celsius_of(value: float, unit: str | None) -> float:
    """A body temperature in °C, to two places (100.4 °F is 38.0 °C)."""
    return round((value - 32) * 5 / 9 if unit in _FAHRENHEIT else value, 2)


def stated_celsius(raw: dict[str, Any]) -> float | None:
    """The temperature an Observation's JSON plainly states (a number, its unit code or text a string or
    absent), in °C as ``fever`` works it out from the validated model; None when it is not that plain.
    A valid entry's model holds the same number and unit, so its temperature is this one."""
    quantity = raw.get("valueQuantity")
    if type(quantity) is not dict:
        return None
    value, code, unit = quantity.get("value"), quantity.get("code"), quantity.get("unit")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if not ((code is None or type(code) is str) and (unit is None or type(unit) is str)):
        return None
    return celsius_of(float(value), code or unit)


def _fusion_date(entry: Entry) -> date | None:
    """When a fusion entry says the fusion was done: a Procedure's date, a Condition's onset only
    (its recordedDate is when it was written down); None when it does not say or does not validate."""
    if entry.resource_type != "Condition":
        return entry.date_key
    return entry.onset if entry.model is not None else None


# In-scope conditions coded as naming the thoracic spine (and not the cervical or cervicothoracic one):
# the value set's codes are a subset of the scope set's. Every other in-scope code counts as cervical,
# the service's default region.
THORACIC_SET = "thoracic-region"
NONOPIOID_SETS = ("nsaids", "acetaminophen")
OPIOID_SETS = ("opioids",)


def _maybe_active_condition(entry: Entry) -> bool:
    """A Condition not known to be inactive: its JSON states no inactive status, and it fails validation
    or is active."""
    return not entry.stated_inactive and (entry.model is None or entry.active_condition)


def build_facts(
    record: Record, terminology: Terminology, params: FactParams, today: date, available: frozenset[str]
) -> PatientFacts:
    """Every fact rules.md defines, each keeping the references that prove it; computed when read."""
    rules = FactRules(record, terminology, params, today)
    return LazyFacts(today, available, rules.compute, rules.active_meds)


class FactRules:
    """How each ``PatientFacts`` field is worked out: one method per field, given the facts object
    (for the facts a fact builds on). Intermediate lists are kept for the request."""

    def __init__(self, record: Record, terminology: Terminology, params: FactParams, today: date) -> None:
        self.record, self.terminology, self.params, self.today = record, terminology, params, today
        self._kept: dict[str, Any] = {}

    def compute(self, name: str, facts: PatientFacts) -> Any:
        return getattr(self, name)(facts)

    def _once(self, name: str, make: Callable[[], T]) -> T:
        if name not in self._kept:
            self._kept[name] = make()
        kept: T = self._kept[name]
        return kept

    def _conditions(self, *valuesets: str) -> list[Entry]:
        return self.record.candidates_in(CONDITION, *valuesets)

    def _scope(self) -> list[Entry]:
        return self._once("scope", lambda: [e for e in self._conditions(SCOPE_SET) if active(e)])

    # -- the patient and the pain
    def patient_ref(self, facts: PatientFacts) -> str | None:
        patient = self.record.patient
        return f"Patient/{patient.id}" if patient is not None and patient.id else None

    def age(self, facts: PatientFacts) -> AgeRange:
        """Every whole-year age the birth date allows (a full date: one; ``YYYY`` or ``YYYY-MM``: the
        ages of its days); unknown without a readable birth date."""
        patient = self.record.patient
        ages = ages_on(getattr(patient, "birthDate", None), self.today) if patient is not None else None
        return AgeRange() if ages is None else AgeRange(*ages)

    def pain(self, facts: PatientFacts) -> Fact | None:
        """The earliest onset of the active in-scope conditions (else their recordedDate). One whose
        stated onset was not understood is no date (``pain_doubt``): it is the pain, undated, only
        when no other condition is."""
        scope = self._scope()
        found = earliest((e for e in scope if not onset_unread(e.raw)), "pain")
        unread = next((e for e in scope if onset_unread(e.raw)), None)
        if found is None and unread is not None:
            return Fact("pain", (unread.ref,), unread.display)
        return found

    def pain_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        """Active in-scope conditions whose stated onset gives no calendar date (``onset_unread``): the
        pain may have begun before ``pain``, so how long it has lasted is not known."""
        return tuple(Fact(UNREAD_ONSET, (e.ref,), e.display) for e in self._scope() if onset_unread(e.raw))

    def scope_conditions(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return tuple(fact(e, "scope-condition") for e in self._scope())

    def pain_regions(self, facts: PatientFacts) -> frozenset[str]:
        """The spine regions of the active in-scope conditions: "thoracic" when a coding is in
        ``THORACIC_SET`` (it names the thoracic spine only), else "cervical"."""
        return frozenset("thoracic" if THORACIC_SET in e.valuesets else "cervical" for e in self._scope())

    def scope_refs(self, facts: PatientFacts) -> frozenset[str]:
        return frozenset(e.ref for e in self._conditions(SCOPE_SET) if e.usable)

    # -- conditions
    def radiculopathy(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("cervical-radiculopathy"), "radiculopathy", active)

    def radiculopathy_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return self._condition_doubt("radiculopathy", "cervical-radiculopathy")

    def myelopathy(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("cervical-myelopathy"), "myelopathy", active)

    def myelopathy_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return self._condition_doubt("myelopathy", "cervical-myelopathy")

    def instability(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("spinal-instability"), "instability", active)

    def instability_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return self._condition_doubt("instability", "spinal-instability")

    def _condition_doubt(self, name: str, valueset: str) -> tuple[Fact, ...]:
        """Conditions that could show the fact ``name`` (read from ``valueset``) but were not understood,
        those stated inactive or void apart: text naming it (``_fact_terms.yaml``) under a code outside
        ``valueset`` — a local code, none, or one of another value set (``UNRECOGNISED_TEXT``) — and
        entries in ``valueset`` that fail validation (``UNREADABLE``). Never validated themselves."""
        named = [e for e in self.record.named(name, *CONDITION, coded=True) if not e.in_any(valueset)]
        found = [Fact(UNRECOGNISED_TEXT, (e.ref,), e.display, e.date_key) for e in named if not e.stated_inactive]
        found += [
            Fact(UNREADABLE, (e.ref,), e.display)
            for e in self._conditions(valueset)
            if not e.stated_inactive and e.model is None
        ]  # fmt: skip
        return tuple(found)

    def neuropathic(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions(*NEUROPATHIC_SETS), "neuropathic", active)

    def neuropathic_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        """Conditions that could be a neuropathic diagnosis but were not understood: one in its value sets that
        fails validation, one in none whose text names radiculopathy or a neuropathy (not stated inactive)."""
        named = self.record.named("neuropathic", *CONDITION)
        return all_facts([doubts(named, self._conditions(*NEUROPATHIC_SETS), _maybe_active_condition, dated=False)])

    def osteoporosis(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("osteoporosis"), "osteoporosis", active)

    def falls(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("falls"), "falls")

    def ckd_4_5(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("ckd-stage-4-5"), "ckd-4-5", active)

    def heart_failure(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("heart-failure"), "heart-failure", active)

    def peptic_ulcer(self, facts: PatientFacts) -> Fact | None:
        return earliest(self._conditions("peptic-ulcer"), "peptic-ulcer", active)

    # -- procedures, physical therapy and imaging
    def cervical_fusion(self, facts: PatientFacts) -> Fact | None:
        """The most recent cervical fusion: a cervical-fusion Procedure (CPT / ICD-10-PCS), a spinal
        fusion Procedure coded without region (SNOMED 55705006, CPT add-on codes) whose bodySite is
        cervical, or arthrodesis status (Z98.1) with a cervical bodySite. Dated by performed[x] or, for
        Z98.1, by onset only: a recordedDate is when it was written down, not when the fusion was done."""
        record = self.record
        found = [fact(e, "cervical-fusion") for e in record.in_sets(PROCEDURE, "cervical-fusion")]
        found += [fact(e, "cervical-fusion") for e in self._regionless_fusions() if is_fusion(e) and e.usable and cervical_site(e)]
        found += [
            Fact("cervical-fusion", (e.ref,), e.display, e.onset)
            for e in record.in_sets(CONDITION, "arthrodesis-status")
            if cervical_site(e)
        ]
        if not found:
            return None
        return max(found, key=lambda f: (f.on is not None, f.on or date.min))

    def _regionless_fusions(self) -> list[Entry]:
        """Spinal fusion Procedures coded without region (in ``spine-surgery`` but no region's fusion set:
        SNOMED 55705006, CPT add-on codes), by their text, or with no text to tell."""
        return [
            e for e in self.record.candidates_in(PROCEDURE, "spine-surgery")
            if not e.in_any(*FUSION_SETS) and (is_fusion(e) or e.display == e.ref)
        ]  # fmt: skip

    def cervical_fusion_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        """Entries that could be a cervical fusion but were not understood, any date: a Procedure or
        Condition in no value set whose text names one (``UNRECOGNISED_TEXT``: "anterior cervical
        discectomy and fusion", "spinal fusion"); a cervical-fusion Procedure, a region-less fusion or
        arthrodesis status (Z98.1) failing validation (``UNREADABLE``); a region-less fusion or arthrodesis
        status whose body site and text name no region (``REGION_UNKNOWN``) — one naming only the
        thoracic or lumbar spine is understood not to be cervical, and so is a region-less fusion
        Procedure done the day of a fusion coded with its region (an add-on code to it). Dated as
        ``cervical_fusion`` dates a fusion: a Condition by its onset only."""
        record = self.record
        named = record.named("cervical-fusion", *PROCEDURE, *CONDITION)
        coded = record.candidates_in(PROCEDURE, "cervical-fusion")
        found = list(doubts(named, coded, lambda e: True, dated=False, date_of=_fusion_date))
        regional = {e.date_key for e in record.candidates_in(PROCEDURE, *FUSION_SETS) if e.date_key is not None and e.usable}
        for entry in self._regionless_fusions() + record.candidates_in(CONDITION, "arthrodesis-status"):
            if entry.stated_void or (entry.resource_type == "Procedure" and entry.date_key in regional):
                continue
            if entry.model is None:
                found.append(Fact(UNREADABLE, (entry.ref,), entry.display, _fusion_date(entry)))
            elif entry.usable and not cervical_site(entry) and not other_region(entry):
                found.append(Fact(REGION_UNKNOWN, (entry.ref,), entry.display, _fusion_date(entry)))
        return tuple(found)

    def lumbar_fusion(self, facts: PatientFacts) -> Fact | None:
        found = first_dated(self.record.candidates_in(PROCEDURE, "lumbar-fusion"), usable, newest=True)
        return fact(found, "lumbar-fusion") if found is not None else None

    def _pt(self) -> list[Entry]:
        def make() -> list[Entry]:
            entries = within(self.record.candidates_in(PT_SOURCES, "physical-therapy"), self.today, self.params.pt_lookback_days)
            return sorted(entries, key=lambda e: e.when or self.today)

        return self._once("pt", make)

    def physical_therapy(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return tuple(fact(e, "physical-therapy") for e in self._pt())

    def physical_therapy_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        """Procedures and ServiceRequests that could be PT in the look-back but were not understood:
        in no value set with text naming PT (``UNRECOGNISED_TEXT``: "Physical therapy for neck pain", a
        local code, CPT 97530 "Therapeutic activities"), or in ``physical-therapy`` but failing validation
        (``UNREADABLE``) or undated (``UNDATED``). Those dated outside the look-back are understood."""
        today, days = self.today, self.params.pt_lookback_days

        def possible(entry: Entry) -> bool:
            on = entry.date_key
            return on is None or 0 <= (today - on).days <= days

        named = self.record.named("physical-therapy", *PT_SOURCES)
        return tuple(doubts(named, self.record.candidates_in(PT_SOURCES, "physical-therapy"), possible, dated=True))

    def pt_done(self, facts: PatientFacts) -> bool:
        pt = self._pt()
        return bool(pt) and pt[0].when is not None and (self.today - pt[0].when).days >= self.params.pt_done_days

    def spine_imaging(self, facts: PatientFacts) -> tuple[Imaging, ...]:
        """Spine imaging within the recent-imaging window (only those studies are validated)."""
        days = self.params.imaging_lookback_days
        recent = [e for e in self.record.candidates_in(IMAGING_SOURCES, *IMAGING_SETS)
                  if (on := e.date_key) is not None and (self.today - on).days <= days]  # fmt: skip
        return tuple(i for i in imaging(recent, self.today) if i.fact.on is not None and (self.today - i.fact.on).days <= days)

    def imaging_history(self, facts: PatientFacts) -> tuple[Imaging, ...]:
        return imaging(self.record.candidates_in(IMAGING_SOURCES, *IMAGING_SETS), self.today)

    def imaging_history_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        """Entries that could be a CT or MRI of the cervical or thoracic spine done by today but were not
        understood: in no value set with text naming one (``UNRECOGNISED_TEXT``: "MRI cervical spine", an
        ImagingStudy with no known procedure code whose description or series say so), or in a CT or
        MRI value set but failing validation (``UNREADABLE``) or undated (``UNDATED``). Those dated after
        today, ServiceRequests not completed and ImagingStudies only registered are understood: not done."""
        today = self.today

        def possible(entry: Entry) -> bool:
            on = entry.date_key
            return (on is None or on <= today) and study_done(entry)

        named = self.record.named("spine-imaging", *IMAGING_SOURCES)
        return tuple(doubts(named, self.record.candidates_in(IMAGING_SOURCES, *CT_MRI_SETS), possible, dated=True))

    # -- observations
    def egfr(self, facts: PatientFacts) -> Fact | None:
        return self._egfr()[0]

    def egfr_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return self._egfr()[1]

    def _egfr(self) -> tuple[Fact | None, tuple[Fact, ...]]:
        """The latest eGFR within the window that is understood, and the results that could be the latest but were
        not understood: failing validation (``UNREADABLE``), a value that is no quantity or an unknown comparator
        (``UNREAD_VALUE``), a unit not understood (``UNREAD_UNIT``) — dated in the window on or after the latest
        understood one — and any result undated or dated after today (``UNDATED``, or why it is not understood).
        Results with no value at all, and void ones, are no results."""

        def make() -> tuple[Fact | None, tuple[Fact, ...]]:
            today = self.today
            candidates = [e for e in self.record.candidates_in(OBSERVATION, "egfr") if not e.stated_void]
            window = dated_within(candidates, today, self.params.egfr_max_age_days)
            latest: Fact | None = None
            doubts: list[Fact] = []
            for entry in sorted(window, key=lambda e: e.date_key, reverse=True):  # type: ignore[arg-type, return-value]
                if latest is not None and entry.date_key != latest.on:
                    break  # older than the latest understood result
                read = self._egfr_result(entry)
                if read is not None and read.key == "egfr":
                    latest = latest or read
                elif read is not None:
                    doubts.append(read)
            for entry in candidates:
                if (on := entry.date_key) is None or on > today:
                    read = self._egfr_result(entry)
                    if read is not None:
                        doubts.append(Fact(UNDATED, read.refs, read.display, on) if read.key == "egfr" else read)
            return latest, tuple(doubts)

        return self._once("egfr", make)

    def _egfr_result(self, entry: Entry) -> Fact | None:
        """An eGFR result as a fact (key ``egfr``, in mL/min/1.73 m²) or as a fact of why it is not understood;
        None when it says nothing (void, no value)."""
        if entry.model is None:
            return Fact(UNREADABLE, (entry.ref,), entry.display, entry.date_key)
        if not entry.usable:
            return None
        quantity = element(entry.model, "valueQuantity")
        if quantity is None and not entry.states_value:
            return None
        read = egfr_reading(quantity)
        if isinstance(read, str):
            return Fact(read, (entry.ref,), entry.display, entry.when)
        value, comparator = read
        return Fact("egfr", (entry.ref,), entry.display, entry.when, value, EGFR_UNIT, comparator)

    def _below_fever(self, entry: Entry) -> bool:
        """The temperature's JSON plainly states a value below the fever line: no fever whether or
        not it validates, so it is passed over unvalidated."""
        memo = entry._memo  # read by ``fever`` and by ``_unread_temperatures``: worked out once
        if "below_fever" not in memo:
            stated = stated_celsius(entry.raw)
            memo["below_fever"] = stated is not None and stated < self.params.fever_celsius
        return bool(memo["below_fever"])

    def fever(self, facts: PatientFacts) -> Fact | None:
        threshold = self.params.fever_celsius
        for entry, value, unit in self._observations("body-temperature", self.params.fever_days, self._below_fever):
            celsius = celsius_of(value, unit)
            if celsius >= threshold:
                return fact(entry, "fever", round(celsius, 1), "°C")
        return earliest(self._conditions("fever-condition"), "fever", active)

    def _unread_temperatures(self) -> Iterator[Fact]:
        """Body temperatures that could show a fever the ``fever`` fact cannot see: dated in its
        window, undated or after today, neither void nor plainly below the fever line, and failing
        validation (``UNREADABLE``), holding a value that is no quantity (``UNREAD_VALUE``: text, a
        concept, a quantity without a number), or at the fever line with no date in the window
        (``UNDATED``). A normal reading stated plainly is never validated."""
        today, days = self.today, self.params.fever_days
        for entry in self.record.candidates_in(OBSERVATION, "body-temperature"):
            on = entry.date_key
            if (on is not None and (today - on).days > days) or entry.stated_void or self._below_fever(entry):
                continue
            if entry.model is None:
                yield Fact(UNREADABLE, (entry.ref,), entry.display)
            elif entry.usable:  # else void, or a repeat of a valid entry with the same reference
                value, unit = observation_value(entry)
                if value is None:
                    if entry.states_value:  # no value at all is no reading
                        yield Fact(UNREAD_VALUE, (entry.ref,), entry.display, on)
                elif celsius_of(value, unit) >= self.params.fever_celsius and (on is None or on > today):
                    yield Fact(UNDATED, (entry.ref,), entry.display, on)

    def _observations(
        self, valueset: str, days: int, passed_over: Callable[[Entry], bool] | None = None
    ) -> Iterator[tuple[Entry, float, str | None]]:
        """Usable results with a value, dated within ``days``, newest first (ties in record order);
        validated one by one as the caller reads on, except those ``passed_over`` (never used)."""
        window = dated_within(self.record.candidates_in(OBSERVATION, valueset), self.today, days)
        if passed_over is not None:  # never used, so never sorted either
            window = [e for e in window if not passed_over(e)]
        for entry in sorted(window, key=lambda e: e.date_key, reverse=True):  # type: ignore[arg-type, return-value]
            if entry.usable:
                value, unit = observation_value(entry)
                if value is not None:
                    yield entry, value, unit

    # -- medications
    def _medication(self, entry: Entry) -> Medication:
        memo = entry._memo
        if "medication" not in memo:
            memo["medication"] = to_medication(
                self.terminology, entry.ref, entry.display, entry.model, entry.ingredients, entry.valuesets,
                raw_codings(entry.drug),
            )  # fmt: skip
        return memo["medication"]  # type: ignore[no-any-return]

    def _meds(self, entries: Iterable[Entry]) -> Iterator[Medication]:
        return (self._medication(e) for e in entries if e.usable)

    def _meds_in(self, *valuesets: str) -> Iterator[Medication]:
        return self._meds(self.record.candidates_in(MEDICATION_TYPES, *valuesets))

    def medications(self, facts: PatientFacts) -> tuple[Medication, ...]:
        return tuple(self._meds(e for e in self.record.candidates if e.resource_type in MEDICATION_TYPES))

    def active_meds(self, valuesets: tuple[str, ...]) -> tuple[Medication, ...]:
        """``PatientFacts.active_in``: the active ``medications`` in any of ``valuesets`` (record order),
        of which only the entries in those sets are validated."""
        return tuple(m for m in self._meds_in(*valuesets) if m.active)

    def _recent(self, sets: tuple[str, ...], days: int, key: str) -> Fact | None:
        for med in self._meds_in(*sets):
            if med.active or (med.end is not None and (self.today - med.end).days <= days):
                return med.as_fact(key)
        return None

    def _recent_doubt(self, sets: tuple[str, ...], days: int, terms: str) -> tuple[Fact, ...]:
        """Medication entries that could be a drug of ``sets`` taken within ``days`` but were not understood: one
        of ``sets`` failing validation, or not active and with no end the record gives, begun in the window,
        undated or of unknown status (``END_UNKNOWN``); one naming no drug, or in no value set whose text names
        such a drug (the ``terms`` group), that is active, ended within ``days`` or of unknown end."""
        today = self.today

        def taken(entry: Entry) -> bool:
            return entry.model is None or taken_within(self._medication(entry), entry.status, today, days)

        coded = self.record.candidates_in(MEDICATION_TYPES, *sets)
        end_unknown = [
            Fact(END_UNKNOWN, (e.ref,), e.display, e.when)
            for e in coded
            if e.usable and end_unknown_within(self._medication(e), e.status, today, days)
        ]
        named = self.record.named(terms, *MEDICATION_TYPES)
        return all_facts([end_unknown, doubts(named, coded, taken, dated=False), self._naming_no_drug(taken)])

    def nonopioid_trial(self, facts: PatientFacts) -> Fact | None:
        return self._recent(NONOPIOID_SETS, self.params.nonopioid_trial_days, "nonopioid-trial")

    def nonopioid_trial_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return self._recent_doubt(NONOPIOID_SETS, self.params.nonopioid_trial_days, "nonopioid-trial")

    def recent_opioid(self, facts: PatientFacts) -> Fact | None:
        return self._recent(OPIOID_SETS, self.params.opioid_recent_days, "recent-opioid")

    def recent_opioid_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        return self._recent_doubt(OPIOID_SETS, self.params.opioid_recent_days, "recent-opioid")

    def _naming_no_drug(self, possible: Callable[[Entry], bool]) -> Iterator[Fact]:
        """Medication entries that name no drug — any drug could be theirs — and are ``possible``: an unresolved
        reference with no display (``Record.unidentified``: ``UNRESOLVED_MEDICATION``), a code holding nothing
        readable (``Record.unreadable``), one failing validation (both ``UNREADABLE``); void ones apart."""
        record = self.record
        unreadable = [e for e in record.unreadable if e.resource_type in MEDICATION_TYPES]
        for key, entries in ((UNRESOLVED_MEDICATION, record.unidentified), (UNREADABLE, unreadable)):
            for entry in entries:
                if entry.stated_void:
                    continue
                if entry.model is None:
                    yield Fact(UNREADABLE, (entry.ref,), None, entry.date_key)
                elif not entry.void and possible(entry):
                    yield Fact(key, (entry.ref,), None, entry.when)

    def _prednisone_factor(self, entry: Entry) -> float:
        """mg prednisone per mg of the entry's drug (``prednisone_equivalents``); 0 when none is listed."""
        factors = self.params.prednisone_equivalents
        return max((factors.get(i, 0.0) for i in entry.ingredients), default=0.0)

    def _prednisone_mg(self, entry: Entry) -> float | None:
        """The prednisone-equivalent mg/day of a usable medication entry; None when it cannot be
        worked out (no factor for its ingredients, or no daily dose the dosage states)."""
        daily = self._medication(entry).dose.daily_mg
        factor = self._prednisone_factor(entry)
        return None if daily is None or not factor else daily * factor

    def chronic_steroid(self, facts: PatientFacts) -> Fact | None:
        params = self.params
        for entry in self.record.candidates:
            if entry.resource_type not in MEDICATION_TYPES or not self._prednisone_factor(entry) or not entry.usable:
                continue
            med, mg = self._medication(entry), self._prednisone_mg(entry)
            if not (med.active and mg is not None and med.start is not None):
                continue
            if mg >= params.steroid_min_daily_mg and (self.today - med.start).days > params.steroid_min_days:
                return Fact("chronic-steroid", (med.ref,), med.display, med.start, mg, "mg/d")
        return earliest(self._conditions("long-term-steroid-use"), "chronic-steroid", active)

    def _unknown_steroid_doses(self, facts: PatientFacts) -> Iterator[Fact]:
        """``_steroid_doses_unknown`` when they leave the fracture-risk flag possible: nothing else shows chronic
        steroid use and the age may be over the fracture-risk age."""
        if facts.age.over(self.params.fracture_risk_age) is False or facts.chronic_steroid is not None:
            return iter(())
        return self._steroid_doses_unknown()

    def _steroid_doses_unknown(self) -> Iterator[Fact]:
        """Active systemic corticosteroids that may be chronic steroid use: their prednisone-equivalent
        dose cannot be worked out (no factor for the drug, no daily dose), or it is at the threshold
        with no start date. A dose and start that are known and fall short are understood: no chronic use."""
        for entry in self.record.candidates_in(MEDICATION_TYPES, *STEROID_SETS):
            if not entry.usable:  # invalid ones are ``UNREADABLE``
                continue
            med = self._medication(entry)
            if not med.active or med.route not in SYSTEMIC_ROUTES:
                continue
            mg = self._prednisone_mg(entry)
            if mg is None or (mg >= self.params.steroid_min_daily_mg and med.start is None):
                yield Fact(STEROID_DOSE, (med.ref,), med.display, med.start)

    def chronic_steroid_doubt(self, facts: PatientFacts) -> tuple[Fact, ...]:
        """Entries that could be chronic systemic steroid use but were not understood, at any age: an active
        systemic corticosteroid whose dose or start is not known (``STEROID_DOSE``), an entry of the steroid
        value sets failing validation, a medication naming no drug that is active or of unknown status, a
        condition not known to be inactive or a medication as current, in no value set, whose text names
        chronic steroid use (``chronic-steroid`` terms)."""
        coded = [*self.record.candidates_in(MEDICATION_TYPES, *STEROID_SETS), *self._conditions("long-term-steroid-use")]
        named = self.record.named("chronic-steroid", *CONDITION, *MEDICATION_TYPES)
        doubted = doubts(named, coded, self._maybe_current, dated=False)
        return all_facts([self._steroid_doses_unknown(), doubted, self._naming_no_drug(self._maybe_current)])

    def _maybe_current(self, entry: Entry) -> bool:
        """A condition not known to be inactive, or a medication failing validation, active or of unknown status."""
        if entry.resource_type not in MEDICATION_TYPES:
            return _maybe_active_condition(entry)
        return entry.model is None or taken_within(self._medication(entry), entry.status, self.today, None)

    def long_term_opioid(self, facts: PatientFacts) -> Fact | None:
        for med in self._meds_in("opioids"):
            if med.active and med.start and (self.today - med.start).days >= self.params.long_term_opioid_days:
                return med.as_fact("long-term-opioid")
        return earliest(self._conditions("long-term-opioid-use"), "long-term-opioid", active)

    def _drug_or_condition(self, drugs: str, conditions: str, key: str) -> Fact | None:
        for med in self._meds_in(drugs):
            if med.active:
                return med.as_fact(key)
        return earliest(self._conditions(conditions), key, active)

    def anticoagulant(self, facts: PatientFacts) -> Fact | None:
        return self._drug_or_condition("anticoagulants", "anticoagulant-use", "anticoagulant")

    def antiplatelet(self, facts: PatientFacts) -> Fact | None:
        return self._drug_or_condition("antiplatelets", "antiplatelet-use", "antiplatelet")

    # -- what could not be read
    def uncertain(self, facts: PatientFacts) -> tuple[Fact, ...]:
        """Entries that could show a red flag but were not read or recognised, void ones apart
        (``stated_void``; any clinical status counts): a condition or medication whose text names a
        red flag its code does not, one in a red-flag value set that fails validation, a medication
        whose medicationReference could not be resolved, one that cannot be read at all
        (``Record.unreadable``); a bacteremia or spinal infection the window cannot place, a body
        temperature that could be a fever but was not understood, a systemic corticosteroid whose
        dose could be chronic use; and the age, when osteoporosis or chronic steroid use is on record
        and the birth date does not say whether the age is over the line."""
        record = self.record
        found = [Fact(UNRECOGNISED_TEXT, (e.ref,), e.display) for e in record.unrecognised if not e.stated_void]
        found += [
            Fact(UNREADABLE, (e.ref,), e.display)
            for e in record.candidates_in(CONDITION + MEDICATION_TYPES, *RED_FLAG_SETS)
            if not e.stated_void and e.model is None
        ]
        found += [Fact(UNRESOLVED_MEDICATION, (ref,), display or None) for ref, display in record.unresolved]
        found += [Fact(UNREADABLE, (e.ref,)) for e in record.unreadable if not e.stated_void]  # no known type, no readable code
        found += self._unplaced_infections()
        found += self._unread_temperatures()
        found += self._unknown_steroid_doses(facts)
        if facts.age.over(self.params.fracture_risk_age) is None and (facts.osteoporosis or facts.chronic_steroid):
            found.append(Fact(AGE_UNKNOWN, (facts.patient_ref,) if facts.patient_ref else ()))
        return tuple(found)

    def _infections(self) -> list[Entry]:
        return self._conditions("staph-aureus-bacteremia", "spinal-infection")

    def _unplaced_infections(self) -> Iterator[Fact]:
        """Bacteremia and spinal infections the look-back window cannot rule out: undated or dated
        after today (``UNDATED``, any status: the window may hold them), or dated before the window
        and still active (``ACTIVE_BEFORE_WINDOW``). Those dated in the window are red flags."""
        today, days = self.today, self.params.infection_lookback_days
        for entry in self._infections():
            on = entry.date_key
            if on is not None and 0 <= (today - on).days <= days:
                continue
            if on is None or on > today:
                if entry.usable:  # invalid ones are ``UNREADABLE``
                    yield Fact(UNDATED, (entry.ref,), entry.display, on)
            elif active(entry):
                yield Fact(ACTIVE_BEFORE_WINDOW, (entry.ref,), entry.display, on)

    def _immunosuppressed(self) -> Iterator[Fact]:
        """Active immunosuppressant drugs (corticosteroids are the fracture-risk path), and transplant
        procedures, which leave a patient immunosuppressed for good."""
        for med in self._meds_in("immunosuppressant-drugs"):
            if med.active:
                yield med.as_fact("immunosuppressant")
        for entry in self.record.candidates_in(PROCEDURE, "immunosuppression"):
            if entry.usable:
                yield fact(entry, "immunosuppression")

    # -- red flags
    def red_flags(self, facts: PatientFacts) -> tuple[RedFlag, ...]:
        flags: list[RedFlag] = []
        params, today = self.params, self.today

        def add(kind: str, urgent: bool, found: Iterable[Fact | None]) -> None:
            present = tuple(f for f in found if f is not None)
            if present:
                flags.append(RedFlag(kind, urgent, present))

        def conditions(valueset: str, key: str, active_only: bool = True) -> list[Fact]:
            accept = active if active_only else usable
            return [fact(e, key) for e in self._conditions(valueset) if accept(e)]

        infection = within(self._infections(), today, params.infection_lookback_days)
        add("neurological", True, [facts.myelopathy])
        add("infection", True, [
            *(fact(e, "bacteremia" if e.in_any("staph-aureus-bacteremia") else "spinal-infection") for e in infection),
            facts.fever,
        ])  # fmt: skip
        add("malignancy", True, conditions("malignancy", "malignancy", active_only=False))
        add("iv-drug-use", False, conditions("iv-drug-use", "iv-drug-use"))
        add("immunosuppression", False, [*conditions("immunosuppression", "immunosuppression"), *self._immunosuppressed()])
        add("weight-loss", False, conditions("unexplained-weight-loss", "weight-loss"))
        add("trauma", False, conditions("significant-trauma", "trauma"))
        if facts.age.over(params.fracture_risk_age):  # an age that may or may not be over it is ``AGE_UNKNOWN``
            osteoporosis, steroid = facts.osteoporosis, facts.chronic_steroid
            if osteoporosis or steroid:
                add("fracture-risk", False, [facts.age_fact(), osteoporosis, steroid])
        return tuple(flags)
