"""Opioid rules: opioid-first-line, opioid-risk (CDC 2022; AGS Beers 2023)."""

from __future__ import annotations

from cds_service.facts.model import CONDITIONS, MEDICATIONS, PATIENT
from cds_service.rules import params, suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.medications import (
    co_prescribed,
    days_of,
    doubted,
    older,
    ordered,
    present,
    recorded,
    remove_suggestions,
)


@rule("opioid-first-line", needs=(MEDICATIONS,), suggestions=("remove-and-refer", "remove"), valuesets=("opioids",))
def opioid_first_line(data: RuleInput) -> Finding | None:
    """An opioid ordered with no NSAID or acetaminophen trial on record; silent when an entry that could be
    one was not understood (``nonopioid_trial_doubt``)."""
    orders = ordered(data, "opioids")
    facts = data.facts
    if not orders or recorded(data, facts.nonopioid_trial) is not None or doubted(data, facts.nonopioid_trial_doubt):
        return None
    reason = Reason("default", present(facts.pain))
    return finding(orders, reason, suggestions=remove_suggestions(data, orders))


@rule(
    "opioid-risk",
    needs=(PATIENT, CONDITIONS, MEDICATIONS),
    reasons=("extended-release", "long-supply", "benzodiazepine", "gabapentinoid-older", "falls-older", "long-term"),
    suggestions=("shorten", "remove"),
    params=params.OpioidRisk,
    valuesets=("opioids", "benzodiazepines", "gabapentinoids"),
)
def opioid_risk(data: RuleInput) -> Finding | None:
    """Each risk of an opioid order: ER/LA form, long first supply, sedative combinations, falls, long-term use."""
    facts, params = data.facts, data.params
    orders = ordered(data, "opioids")
    if not orders:
        return None
    reasons: list[Reason] = []
    extended = [o for o in orders if o.medication is not None and o.medication.extended_release]
    if extended:
        reasons.append(Reason("extended-release", (), {"orders": [o.display for o in extended]}))
    long_term = recorded(data, facts.long_term_opioid)
    new_start = long_term is None and recorded(data, facts.recent_opioid) is None and not doubted(data, facts.recent_opioid_doubt)
    max_days = params["new_start_max_days"]
    long = [o for o in orders if new_start and (days_of(o) or 0) > max_days]
    if long:
        listed = [{"display": o.display, "days": days_of(o)} for o in long]
        reasons.append(Reason("long-supply", (), {"orders": listed}))
    benzodiazepines = co_prescribed(data, "benzodiazepine", "benzodiazepines", exclude=orders)
    if benzodiazepines:
        reasons.append(Reason("benzodiazepine", benzodiazepines))
    if older(facts, params["older_age"]):
        gabapentinoids = co_prescribed(data, "gabapentinoid", "gabapentinoids", exclude=orders)
        if gabapentinoids:
            reasons.append(Reason("gabapentinoid-older", (facts.age_fact(), *gabapentinoids)))
        if facts.falls is not None:
            reasons.append(Reason("falls-older", (facts.age_fact(), facts.falls)))
    if long_term is not None:
        reasons.append(Reason("long-term", (long_term,)))
    if not reasons:
        return None
    suggestions = []
    if long:
        shorten = tuple(suggest.limit_duration(o, max_days, facts.today) for o in long)
        suggestions.append(SuggestionSpec("shorten", shorten, recommended=True))
    suggestions.append(SuggestionSpec("remove", suggest.remove(orders), recommended=not long))
    return finding(orders, *reasons, suggestions=tuple(suggestions))
