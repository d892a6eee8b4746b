"""Record entries → ``PatientFacts`` (definitions from rules.md, numbers from ``FactParams``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from cds_service.facts.dates import as_date, whole_years
from cds_service.facts.medications import to_medication
from cds_service.facts.model import Fact, Imaging, Medication, PatientFacts, RedFlag
from cds_service.facts.params import FactParams
from cds_service.facts.record import MEDICATION_TYPES, Entry, Record, observation_value
from cds_service.terminology import Terminology

CONDITION = ("Condition",)
PROCEDURE = ("Procedure",)
PT_SOURCES = ("Procedure", "ServiceRequest")
IMAGING_SOURCES = ("Procedure", "ServiceRequest", "ImagingStudy")
IMAGING_SETS = {
    f"imaging-{modality}-{region}-spine": (modality, region)
    for modality in ("xr", "ct", "mri")
    for region in ("cervical", "thoracic")
}
_FAHRENHEIT = {"[degF]", "degF", "°F", "F"}


def fact(entry: Entry, key: str, value: float | None = None, unit: str | None = None) -> Fact:
    return Fact(key, (entry.ref,), entry.display, entry.when, value, unit)


def _conditions(record: Record, *valuesets: str, active_only: bool = True) -> list[Entry]:
    found = record.in_sets(CONDITION, *valuesets)
    return [e for e in found if e.active_condition] if active_only else found


def _earliest(entries: Iterable[Entry], key: str) -> Fact | None:
    dated = sorted(entries, key=lambda e: (e.when is None, e.when or date.max))
    return fact(dated[0], key) if dated else None


def _latest(entries: Iterable[Entry], key: str) -> Fact | None:
    dated = sorted(entries, key=lambda e: e.when or date.min, reverse=True)
    return fact(dated[0], key) if dated else None


def _within(entries: Iterable[Entry], today: date, days: int) -> list[Entry]:
    return [e for e in entries if e.when is not None and 0 <= (today - e.when).days <= days]


def build_facts(
    record: Record, terminology: Terminology, params: FactParams, today: date, available: frozenset[str]
) -> PatientFacts:
    """Every fact rules.md defines, each keeping the references that prove it."""
    patient = record.patient
    born = as_date(getattr(patient, "birthDate", None)) if patient is not None else None
    age = whole_years(born, today) if born is not None else None

    scope = _conditions(record, "neck-upper-back-pain")
    medications = _medications(record, terminology)
    fusion = _fusion(record)
    imaging = _imaging(record, today)
    steroid = _chronic_steroid(record, medications, params, today)
    osteoporosis = _earliest(_conditions(record, "osteoporosis"), "osteoporosis")
    fever = _fever(record, params, today)
    pt = sorted(
        _within(record.in_sets(PT_SOURCES, "physical-therapy"), today, params.pt_lookback_days),
        key=lambda e: e.when or today,
    )
    facts = dict(
        today=today,
        available=available,
        patient_ref=f"Patient/{patient.id}" if patient is not None and patient.id else None,
        age=age,
        pain=_earliest(scope, "pain"),
        scope_conditions=tuple(fact(e, "scope-condition") for e in scope),
        scope_refs=frozenset(e.ref for e in _conditions(record, "neck-upper-back-pain", active_only=False)),
        radiculopathy=_earliest(_conditions(record, "cervical-radiculopathy"), "radiculopathy"),
        myelopathy=_earliest(_conditions(record, "cervical-myelopathy"), "myelopathy"),
        instability=_earliest(_conditions(record, "spinal-instability"), "instability"),
        neuropathic=_earliest(_conditions(record, "neuropathic-pain", "cervical-radiculopathy"), "neuropathic"),
        osteoporosis=osteoporosis,
        cervical_fusion=fusion,
        lumbar_fusion=_latest(record.in_sets(PROCEDURE, "lumbar-fusion"), "lumbar-fusion"),
        physical_therapy=tuple(fact(e, "physical-therapy") for e in pt),
        pt_done=bool(pt) and pt[0].when is not None and (today - pt[0].when).days >= params.pt_done_days,
        medications=tuple(medications),
        nonopioid_trial=_recent_medication(medications, ("nsaids", "acetaminophen"), today, params.nonopioid_trial_days, "nonopioid-trial"),
        chronic_steroid=steroid,
        recent_opioid=_recent_medication(medications, ("opioids",), today, params.opioid_recent_days, "recent-opioid"),
        long_term_opioid=_long_term_opioid(record, medications, params, today),
        spine_imaging=tuple(i for i in imaging if i.fact.on is not None and (today - i.fact.on).days <= params.imaging_lookback_days),
        imaging_history=imaging,
        egfr=_egfr(record, params, today),
        fever=fever,
        falls=_earliest(_conditions(record, "falls", active_only=False), "falls"),
        ckd_4_5=_earliest(_conditions(record, "ckd-stage-4-5"), "ckd-4-5"),
        heart_failure=_earliest(_conditions(record, "heart-failure"), "heart-failure"),
        peptic_ulcer=_earliest(_conditions(record, "peptic-ulcer"), "peptic-ulcer"),
        anticoagulant=_drug_or_condition(record, medications, "anticoagulants", "anticoagulant-use", "anticoagulant"),
        antiplatelet=_drug_or_condition(record, medications, "antiplatelets", "antiplatelet-use", "antiplatelet"),
    )
    facts["red_flags"] = _red_flags(record, facts, params, today, age, osteoporosis, steroid, fever)
    return PatientFacts(**facts)  # type: ignore[arg-type]


def _medications(record: Record, terminology: Terminology) -> list[Medication]:
    return [
        to_medication(terminology, e.ref, e.display, e.model, e.ingredients, e.valuesets)
        for e in record.of(*MEDICATION_TYPES)
    ]


def _recent_medication(meds: list[Medication], sets: tuple[str, ...], today: date, days: int, key: str) -> Fact | None:
    for med in meds:
        if med.in_any(*sets) and (med.active or (med.end is not None and (today - med.end).days <= days)):
            return med.as_fact(key)
    return None


def _drug_or_condition(record: Record, meds: list[Medication], drugs: str, conditions: str, key: str) -> Fact | None:
    for med in meds:
        if med.active and med.in_any(drugs):
            return med.as_fact(key)
    return _earliest(_conditions(record, conditions), key)


def _fusion(record: Record) -> Fact | None:
    """The most recent cervical fusion: a cervical-fusion Procedure (CPT / ICD-10-PCS), a spinal
    fusion Procedure coded without region (SNOMED 55705006, CPT add-on codes) whose bodySite is
    cervical, or arthrodesis status (Z98.1) with a cervical bodySite. Dated by performed[x] or, for
    Z98.1, by onset only: a recordedDate is when it was written down, not when the fusion was done."""
    found = [fact(e, "cervical-fusion") for e in record.in_sets(PROCEDURE, "cervical-fusion")]
    found += [
        fact(e, "cervical-fusion")
        for e in record.in_sets(PROCEDURE, "spine-surgery")
        if not e.in_any("cervical-fusion", "thoracic-fusion", "lumbar-fusion") and _is_fusion(e) and _cervical_site(e)
    ]
    found += [
        Fact("cervical-fusion", (e.ref,), e.display, e.onset)
        for e in _conditions(record, "arthrodesis-status", active_only=False)
        if _cervical_site(e)
    ]
    if not found:
        return None
    return max(found, key=lambda f: (f.on is not None, f.on or date.min))


def _is_fusion(entry: Entry) -> bool:
    return any(word in entry.display.lower() for word in ("fusion", "arthrodesis"))


def _cervical_site(entry: Entry) -> bool:
    for site in getattr(entry.model, "bodySite", None) or []:
        words = [site.text or ""] + [c.display or "" for c in site.coding or []]
        if any("cervical" in w.lower() or "neck" in w.lower() for w in words):
            return True
    return False


def _chronic_steroid(record: Record, meds: list[Medication], params: FactParams, today: date) -> Fact | None:
    for med in meds:
        factor = max((params.prednisone_equivalents.get(i, 0.0) for i in med.ingredients), default=0.0)
        daily = med.dose.daily_mg
        if not (med.active and factor and daily is not None and med.start is not None):
            continue
        if daily * factor >= params.steroid_min_daily_mg and (today - med.start).days > params.steroid_min_days:
            return Fact("chronic-steroid", (med.ref,), med.display, med.start, daily * factor, "mg/d")
    return _earliest(_conditions(record, "long-term-steroid-use"), "chronic-steroid")


def _long_term_opioid(record: Record, meds: list[Medication], params: FactParams, today: date) -> Fact | None:
    for med in meds:
        if med.active and med.in_any("opioids") and med.start and (today - med.start).days >= params.long_term_opioid_days:
            return med.as_fact("long-term-opioid")
    return _earliest(_conditions(record, "long-term-opioid-use"), "long-term-opioid")


def _imaging(record: Record, today: date) -> tuple[Imaging, ...]:
    """Every dated, done c/t-spine study up to today (Procedure, completed ServiceRequest, ImagingStudy), newest first."""
    found = []
    for entry in record.in_sets(IMAGING_SOURCES, *IMAGING_SETS):
        if entry.when is None or entry.when > today:
            continue
        if entry.resource_type == "ServiceRequest" and entry.status != "completed":
            continue
        if entry.resource_type == "ImagingStudy" and entry.status == "registered":
            continue  # registered: announced, nothing acquired yet
        for vs_id, (modality, region) in IMAGING_SETS.items():
            if vs_id in entry.valuesets:
                found.append(Imaging(modality, region, fact(entry, f"imaging-{modality}")))
    return tuple(sorted(found, key=lambda i: i.fact.on or date.min, reverse=True))


def _latest_observation(record: Record, valueset: str, today: date, days: int) -> list[tuple[Entry, float, str | None]]:
    out = []
    for entry in _within(record.in_sets(("Observation",), valueset), today, days):
        value, unit = observation_value(entry)
        if value is not None:
            out.append((entry, value, unit))
    return sorted(out, key=lambda t: t[0].when or date.min, reverse=True)


def _egfr(record: Record, params: FactParams, today: date) -> Fact | None:
    found = _latest_observation(record, "egfr", today, params.egfr_max_age_days)
    if not found:
        return None
    entry, value, unit = found[0]
    return fact(entry, "egfr", value, unit or "mL/min/1.73m2")


def _fever(record: Record, params: FactParams, today: date) -> Fact | None:
    for entry, value, unit in _latest_observation(record, "body-temperature", today, params.fever_days):
        celsius = round((value - 32) * 5 / 9 if unit in _FAHRENHEIT else value, 2)  # 100.4 °F is 38.0 °C
        if celsius >= params.fever_celsius:
            return fact(entry, "fever", round(celsius, 1), "°C")
    return _earliest(_conditions(record, "fever-condition"), "fever")


def _red_flags(
    record: Record, facts: dict, params: FactParams, today: date, age: int | None,
    osteoporosis: Fact | None, steroid: Fact | None, fever: Fact | None,
) -> tuple[RedFlag, ...]:
    flags: list[RedFlag] = []

    def add(kind: str, urgent: bool, found: Iterable[Fact | None]) -> None:
        present = tuple(f for f in found if f is not None)
        if present:
            flags.append(RedFlag(kind, urgent, present))

    def conditions(valueset: str, key: str, active_only: bool = True) -> list[Fact]:
        return [fact(e, key) for e in _conditions(record, valueset, active_only=active_only)]

    infection = _within(
        _conditions(record, "staph-aureus-bacteremia", "spinal-infection", active_only=False),
        today, params.infection_lookback_days,
    )
    add("neurological", True, [facts["myelopathy"]])
    add("infection", True, [
        *(fact(e, "bacteremia" if e.in_any("staph-aureus-bacteremia") else "spinal-infection") for e in infection),
        fever,
    ])
    add("malignancy", True, conditions("malignancy", "malignancy", active_only=False))
    add("iv-drug-use", False, conditions("iv-drug-use", "iv-drug-use"))
    add("immunosuppression", False, conditions("immunosuppression", "immunosuppression"))
    add("weight-loss", False, conditions("unexplained-weight-loss", "weight-loss"))
    add("trauma", False, conditions("significant-trauma", "trauma"))
    if age is not None and age > params.fracture_risk_age and (osteoporosis or steroid):
        patient = (facts["patient_ref"],) if facts["patient_ref"] else ()
        add("fracture-risk", False, [Fact("age", patient, None, None, float(age), "years"), osteoporosis, steroid])
    return tuple(flags)
