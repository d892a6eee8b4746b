"""Typed facts about a patient and the draft orders, each traceable to FHIR references.

Rules read only these types: no codings, no JSON, no clocks. Every fact keeps the references
(``Condition/123``) that prove it, so a card can say exactly which record entries triggered it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

# Data keys a rule may need; a key is in PatientFacts.available when it could be read.
PATIENT = "patient"
CONDITIONS = "conditions"
PROCEDURES = "procedures"
MEDICATIONS = "medications"
OBSERVATIONS = "observations"
SERVICE_REQUESTS = "serviceRequests"
IMAGING = "imagingStudies"
DATA_KEYS = (PATIENT, CONDITIONS, PROCEDURES, MEDICATIONS, OBSERVATIONS, SERVICE_REQUESTS, IMAGING)
SCOPE_SET = "neck-upper-back-pain"  # the value set of the conditions that put a call in scope
# The value sets a red flag is read from (facts/build.py ``red_flags``, ``chronic_steroid``): an
# entry in one of them that cannot be read, or one in none whose text names a red flag, leaves a
# red flag possible (``PatientFacts.uncertain``).
RED_FLAG_SETS = frozenset({
    "cervical-myelopathy", "staph-aureus-bacteremia", "spinal-infection", "fever-condition", "malignancy",
    "iv-drug-use", "immunosuppression", "unexplained-weight-loss", "significant-trauma", "osteoporosis",
    "long-term-steroid-use", "systemic-corticosteroids", "immunosuppressant-drugs",
})
# Why an entry leaves a red flag possible (``Fact.key`` of ``PatientFacts.uncertain``).
UNRECOGNISED_TEXT = "unrecognised-text"  # in no red-flag value set, but its text names a red flag
UNREADABLE = "unreadable"  # in a red-flag value set (or a body temperature) but failed validation, or no known type or readable code
UNRESOLVED_MEDICATION = "unresolved-medication"  # its medicationReference could not be resolved
UNDATED = "undated"  # a bacteremia, spinal infection or fever reading with no date, or one after today
ACTIVE_BEFORE_WINDOW = "active-before-window"  # a bacteremia or spinal infection dated before the window, still active
UNREAD_VALUE = "unread-value"  # a body temperature whose value is not a quantity (text, a concept, no number)
STEROID_DOSE = "steroid-dose"  # an active systemic corticosteroid whose prednisone-equivalent dose or start is not known
AGE_UNKNOWN = "age-unknown"  # osteoporosis or chronic steroid, and no birth date that puts the age on one side of the line
# Why an entry leaves a cervical fusion, physical therapy or prior spine imaging in doubt (``Fact.key`` of
# ``PatientFacts.cervical_fusion_doubt``, ``physical_therapy_doubt``, ``imaging_history_doubt``): in no value
# set but its text names the fact (``UNRECOGNISED_TEXT``); in the fact's value sets but failing validation
# (``UNREADABLE``) or, where the fact needs a date, undated (``UNDATED``); or:
REGION_UNKNOWN = "region-unknown"  # a spinal fusion (or arthrodesis status) whose region neither its body site nor its text tells
# Why an in-scope Condition's onset leaves the pain duration unknown (``PatientFacts.pain_doubt``).
UNREAD_ONSET = "unread-onset"  # an onset[x] that gives no calendar date: text, an age, a range, a partial date, a period without start
# Why an entry leaves a fact in doubt (``Fact.key`` of the ``<fact>_doubt`` fields), besides the keys above, for
# the facts medications and the eGFR give:
END_UNKNOWN = "end-unknown"  # a medication neither active nor with an end the record gives, dated in the window or undated
UNREAD_UNIT = "unread-unit"  # a lab value whose unit is not one the fact is read in
ShownAge = int | str | None  # the age a card shows (``AgeRange.shown``)
# Routes that deliver a drug systemically; None = the record does not say (an unnamed form).
SYSTEMIC_ROUTES = frozenset({"oral", "injectable", None})


@dataclass(frozen=True, slots=True)
class Fact:
    """A patient fact and the FHIR references that prove it."""

    key: str
    refs: tuple[str, ...] = ()
    display: str | None = None
    on: date | None = None
    value: float | None = None
    unit: str | None = None
    comparator: str | None = None  # the value is a bound: "<", "<=", ">=", ">" (a Quantity's comparator)

    def days_before(self, today: date) -> int | None:
        """Days from this fact's date to ``today``; None when the date is unknown."""
        return None if self.on is None else (today - self.on).days


@dataclass(frozen=True, slots=True)
class AgeRange:
    """The patient's age in whole years as far as the birth date tells it: any age from ``low`` to
    ``high`` (a birth date of a year or a month may leave two; a full one, one); both None when unknown.

    Rules compare it with a threshold by ``at_least`` and ``over``: True or False when every
    possible age answers alike, None when the answer is not known (the rule then stays silent).
    """

    low: int | None = None
    high: int | None = None

    @classmethod
    def exact(cls, years: int) -> AgeRange:
        return cls(years, years)

    def at_least(self, years: int) -> bool | None:
        """Whether the age is ``years`` or more; None when unknown or the range straddles it."""
        if self.low is None or self.high is None:
            return None
        if self.low >= years:
            return True
        if self.high < years:
            return False
        return None

    def over(self, years: int) -> bool | None:
        """Whether the age is more than ``years`` (in whole years: at least ``years + 1``)."""
        return self.at_least(years + 1)

    @property
    def shown(self) -> ShownAge:
        """The age as a card shows it: whole years, "69–70" when only a range is known, None when unknown."""
        if self.low is None or self.high is None:
            return None
        return self.low if self.low == self.high else f"{self.low}–{self.high}"


@dataclass(frozen=True, slots=True)
class RedFlag:
    """A red flag (``kind``) with the facts that raised it; urgent flags need prompt MRI."""

    kind: str
    urgent: bool
    facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class Dose:
    """What a medication order asks for, as far as the record says (None = not stated)."""

    dose_mg: float | None = None
    doses_per_day: float | None = None
    days_supply: float | None = None
    refills: int = 0

    @property
    def daily_mg(self) -> float | None:
        if self.dose_mg is None or self.doses_per_day is None:
            return None
        return self.dose_mg * self.doses_per_day

    @property
    def total_days(self) -> float | None:
        """Days covered including refills."""
        return None if self.days_supply is None else self.days_supply * (1 + self.refills)


@dataclass(frozen=True, slots=True)
class Medication:
    """A medication on record or ordered, matched to RxNorm ingredients and drug value sets."""

    ref: str
    display: str
    ingredients: frozenset[str]
    valuesets: frozenset[str]
    active: bool
    start: date | None = None
    end: date | None = None
    dose: Dose = field(default_factory=Dose)
    extended_release: bool = False
    route: str | None = None

    def in_any(self, *valuesets: str) -> bool:
        return not self.valuesets.isdisjoint(valuesets)

    def as_fact(self, key: str) -> Fact:
        return Fact(key, (self.ref,), self.display, self.start)


@dataclass(frozen=True, slots=True)
class Imaging:
    """A spine imaging study on record: modality (xr, ct, mri) and region (cervical, thoracic)."""

    modality: str
    region: str
    fact: Fact


@dataclass(frozen=True, slots=True)
class DraftOrder:
    """A draft order from the hook context, classified by the value sets its codes fall in."""

    ref: str
    resource_type: str
    display: str
    valuesets: frozenset[str]
    selected: bool
    text: str = ""
    reason_in_scope: bool = False
    reason_refs: tuple[str, ...] = ()
    # The patient facts (``cards/_fact_terms.yaml`` groups) its text names when its code is in no value
    # set: a local-coded PT referral could be PT planned, though not understood as one.
    named: frozenset[str] = frozenset()
    medication: Medication | None = None
    resource: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.ref.split("/", 1)[1]

    def in_any(self, *valuesets: str) -> bool:
        return not self.valuesets.isdisjoint(valuesets)


Status = Literal["active", "ended"]


@dataclass(frozen=True)
class PatientFacts:
    """Everything the rules know about the patient, computed once per request."""

    today: date
    available: frozenset[str]
    patient_ref: str | None = None
    age: AgeRange = AgeRange()
    pain: Fact | None = None
    # In-scope conditions whose stated onset was not understood: the pain may have begun earlier (key: why).
    pain_doubt: tuple[Fact, ...] = ()
    scope_conditions: tuple[Fact, ...] = ()
    scope_refs: frozenset[str] = frozenset()  # every in-scope Condition, any status
    red_flags: tuple[RedFlag, ...] = ()
    radiculopathy: Fact | None = None
    # Conditions that could show radiculopathy, myelopathy, instability but were not understood (key: why).
    radiculopathy_doubt: tuple[Fact, ...] = ()
    myelopathy: Fact | None = None
    myelopathy_doubt: tuple[Fact, ...] = ()
    instability: Fact | None = None
    instability_doubt: tuple[Fact, ...] = ()
    neuropathic: Fact | None = None
    neuropathic_doubt: tuple[Fact, ...] = ()  # conditions that could be a neuropathic diagnosis, not understood
    osteoporosis: Fact | None = None
    cervical_fusion: Fact | None = None
    cervical_fusion_doubt: tuple[Fact, ...] = ()  # entries that could be a cervical fusion, not understood
    lumbar_fusion: Fact | None = None
    physical_therapy: tuple[Fact, ...] = ()
    physical_therapy_doubt: tuple[Fact, ...] = ()  # entries that could be PT in the look-back, not understood
    pt_done: bool = False
    medications: tuple[Medication, ...] = ()
    nonopioid_trial: Fact | None = None
    nonopioid_trial_doubt: tuple[Fact, ...] = ()  # entries that could be an NSAID/acetaminophen trial, not understood
    chronic_steroid: Fact | None = None
    chronic_steroid_doubt: tuple[Fact, ...] = ()  # entries that could be chronic steroid use, not understood
    recent_opioid: Fact | None = None
    recent_opioid_doubt: tuple[Fact, ...] = ()  # entries that could be an opioid in recent months, not understood
    long_term_opioid: Fact | None = None
    spine_imaging: tuple[Imaging, ...] = ()  # c/t-spine imaging within the recent-imaging window
    imaging_history: tuple[Imaging, ...] = ()  # every dated c/t-spine study on record, newest first
    imaging_history_doubt: tuple[Fact, ...] = ()  # entries that could be a c/t-spine CT or MRI done, not understood
    egfr: Fact | None = None
    egfr_doubt: tuple[Fact, ...] = ()  # results that could be the latest eGFR, not understood
    fever: Fact | None = None
    falls: Fact | None = None
    ckd_4_5: Fact | None = None
    heart_failure: Fact | None = None
    peptic_ulcer: Fact | None = None
    anticoagulant: Fact | None = None
    antiplatelet: Fact | None = None
    # Record entries that could show a red flag but were not read or recognised (key: why).
    uncertain: tuple[Fact, ...] = ()
    pain_regions: frozenset[str] = frozenset()  # "cervical", "thoracic": regions of the active in-scope conditions

    def has(self, *keys: str) -> bool:
        """Whether every data key could be read (a rule needing missing data stays silent)."""
        return self.available.issuperset(keys)

    def age_fact(self) -> Fact:
        """The patient's age as a fact, proven by the Patient resource: its value in whole years, or
        its display ("69–70") when the birth date gives only a range."""
        refs = (self.patient_ref,) if self.patient_ref else ()
        shown = self.age.shown
        if isinstance(shown, str):
            return Fact("age", refs, shown, None, None, "years")
        return Fact("age", refs, None, None, None if shown is None else float(shown), "years")

    @property
    def pain_days(self) -> int | None:
        """Days since the pain began; None when unknown: no dated in-scope condition, or one whose
        stated onset was not understood (``pain_doubt``: the pain may have begun earlier)."""
        return None if self.pain is None or self.pain_doubt else self.pain.days_before(self.today)

    @property
    def pt_any(self) -> bool:
        return bool(self.physical_therapy)

    @property
    def urgent_flags(self) -> tuple[RedFlag, ...]:
        return tuple(f for f in self.red_flags if f.urgent)

    def active_in(self, *valuesets: str) -> tuple[Medication, ...]:
        """Active medications on record in any of the drug value sets."""
        return tuple(m for m in self.medications if m.active and m.in_any(*valuesets))


def all_facts(groups: Iterable[Iterable[Fact]]) -> tuple[Fact, ...]:
    """The facts of several groups, de-duplicated, in first-seen order."""
    seen: dict[tuple[str, tuple[str, ...]], Fact] = {}
    for group in groups:
        for fact in group:
            seen.setdefault((fact.key, fact.refs), fact)
    return tuple(seen.values())
