"""Muscle relaxant and antispasmodic rules: muscle-relaxant-older-adult, muscle-relaxant-duration,
baclofen-renal, benzodiazepine-for-spasm (AGS Beers 2023; CDC 2022 rec. 11; FDA label)."""

from __future__ import annotations

from cds_service.facts import DraftOrder
from cds_service.facts.model import MEDICATIONS, OBSERVATIONS, PATIENT
from cds_service.rules import params, suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.medications import (
    co_prescribed,
    days_of,
    egfr_below,
    older,
    ordered,
    remove_suggestions,
)
from cds_service.rules.scope import MUSCLE_RELAXANTS  # the Beers entry, plus baclofen and tizanidine


@rule(
    "muscle-relaxant-older-adult",
    needs=(PATIENT,),
    suggestions=("remove-and-refer", "remove"),
    params=params.OlderAge,
    valuesets=("muscle-relaxants-beers",),
)
def muscle_relaxant_older_adult(data: RuleInput) -> Finding | None:
    """A Beers-listed skeletal muscle relaxant ordered at age 65 or more."""
    orders = ordered(data, "muscle-relaxants-beers")
    if not orders or not older(data.facts, data.params["older_age"]):
        return None
    reason = Reason("default", (data.facts.age_fact(),))
    return finding(orders, reason, suggestions=remove_suggestions(data, orders))


def _cyclobenzaprine_reasons(data: RuleInput, orders: tuple[DraftOrder, ...]) -> tuple[list[Reason], list[DraftOrder]]:
    """At older ages: extended-release cyclobenzaprine, or more than the studied 5 mg three times daily."""
    params = data.params
    extended, high = [], []
    for order in orders:
        med = order.medication
        if med is None:
            continue
        if med.extended_release:
            extended.append(order)
            continue
        dose, per_day = med.dose.dose_mg, med.dose.doses_per_day
        if (dose is not None and dose > params["cyclobenzaprine_max_dose_mg"]) or (
            per_day is not None and per_day > params["cyclobenzaprine_max_doses_per_day"]
        ):
            high.append(order)
    reasons = []
    if extended:
        reasons.append(Reason("cyclobenzaprine-er", (data.facts.age_fact(),), {"orders": [o.display for o in extended]}))
    if high:
        listed = [
            {"display": o.display, "dose_mg": o.medication.dose.dose_mg, "per_day": o.medication.dose.doses_per_day}
            for o in high
            if o.medication is not None
        ]
        reasons.append(Reason("cyclobenzaprine-dose", (data.facts.age_fact(),), {"orders": listed}))
    return reasons, extended + high


@rule(
    "muscle-relaxant-duration",
    needs=(PATIENT,),
    reasons=("long-course", "carisoprodol", "cyclobenzaprine-dose", "cyclobenzaprine-er"),
    suggestions=("limit", "remove"),
    params=params.MuscleRelaxantDuration,
    valuesets=("muscle-relaxants-beers", "baclofen", "tizanidine", "carisoprodol", "cyclobenzaprine"),
)
def muscle_relaxant_duration(data: RuleInput) -> Finding | None:
    """A course over 14 days, carisoprodol at any age, or cyclobenzaprine above 5 mg TID or ER at 65+."""
    params = data.params
    orders = ordered(data, *MUSCLE_RELAXANTS)
    reasons: list[Reason] = []
    flagged: set[str] = set()
    long = [o for o in orders if (days_of(o) or 0) > params["max_days"]]
    if long:
        listed = [{"display": o.display, "days": days_of(o)} for o in long]
        reasons.append(Reason("long-course", (), {"orders": listed}))
    carisoprodol = [o for o in orders if o.in_any("carisoprodol")]
    if carisoprodol:
        reasons.append(Reason("carisoprodol", (), {"orders": [o.display for o in carisoprodol]}))
    if older(data.facts, params["older_age"]):
        more, cyclobenzaprine = _cyclobenzaprine_reasons(data, tuple(o for o in orders if o.in_any("cyclobenzaprine")))
        reasons += more
        flagged.update(o.ref for o in cyclobenzaprine)
    if not reasons:
        return None
    flagged.update(o.ref for o in long + carisoprodol)
    shown = tuple(o for o in orders if o.ref in flagged)
    suggestions = []
    if long:
        days = params["suggested_days"]
        limits = tuple(suggest.limit_duration(o, days, data.facts.today) for o in long)
        suggestions.append(SuggestionSpec("limit", limits, recommended=True))
    suggestions.append(SuggestionSpec("remove", suggest.remove(shown), recommended=not long))
    return finding(shown, *reasons, suggestions=tuple(suggestions))


@rule(
    "baclofen-renal",
    needs=(PATIENT, OBSERVATIONS),
    suggestions=("remove",),
    params=params.RenalOlderAge,
    valuesets=("baclofen",),
)
def baclofen_renal(data: RuleInput) -> Finding | None:
    """Baclofen at age 65 or more with a measured eGFR below 60."""
    facts, params = data.facts, data.params
    orders = ordered(data, "baclofen")
    egfr = egfr_below(facts, params["egfr_min"])
    if not orders or egfr is None or not older(facts, params["older_age"]):
        return None
    remove = SuggestionSpec("remove", suggest.remove(orders), recommended=True)
    return finding(orders, Reason("default", (facts.age_fact(), egfr)), suggestions=(remove,))


@rule(
    "benzodiazepine-for-spasm",
    needs=(PATIENT, MEDICATIONS),
    reasons=("default", "with-opioid"),
    suggestions=("remove",),
    params=params.OlderAge,
    valuesets=("benzodiazepines", "opioids"),
)
def benzodiazepine_for_spasm(data: RuleInput) -> Finding | None:
    """A benzodiazepine ordered in scope; critical when an opioid is active or drafted."""
    facts = data.facts
    orders = ordered(data, "benzodiazepines")
    if not orders:
        return None
    is_older = older(facts, data.params["older_age"])
    reasons = [Reason("default", (facts.age_fact(),) if is_older else (), {"older": is_older})]
    opioids = co_prescribed(data, "opioid", "opioids", exclude=orders)
    if opioids:
        reasons.append(Reason("with-opioid", opioids))
    remove = SuggestionSpec("remove", suggest.remove(orders), recommended=True)
    return finding(orders, *reasons, suggestions=(remove,))
