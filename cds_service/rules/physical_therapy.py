"""physical-therapy-first, and what "PT on record or planned" means for every rule."""

from __future__ import annotations

from cds_service.facts.model import CONDITIONS, MEDICATIONS, OBSERVATIONS, PATIENT, PROCEDURES, SERVICE_REQUESTS
from cds_service.rules import suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.scope import scoped_orders

PT_DATA = (PROCEDURES, SERVICE_REQUESTS)


def pt_planned(data: RuleInput) -> bool:
    """PT_ANY: physical therapy on record within the look-back, or a PT referral among the draft orders."""
    return data.facts.pt_any or bool(data.drafted("physical-therapy"))


def may_refer(data: RuleInput) -> bool:
    """Whether suggesting a new PT referral is sound: none is on record or planned, and PT data was read."""
    return data.facts.has(*PT_DATA) and not pt_planned(data)


@rule(
    "physical-therapy-first",
    needs=(PATIENT, CONDITIONS, PROCEDURES, MEDICATIONS, OBSERVATIONS, SERVICE_REQUESTS),
    suggestions=("pt-referral",),
    valuesets=("physical-therapy",),
    reassures=True,  # "no red flag was found"
)
def physical_therapy_first(data: RuleInput) -> Finding | None:
    """An in-scope order with no PT on record or drafted and no red flag of any kind."""
    facts = data.facts
    orders = tuple(o for o in scoped_orders(facts, data.orders) if not o.in_any("physical-therapy"))
    if not orders or pt_planned(data) or facts.red_flags:
        return None
    evidence = tuple(f for f in (facts.pain,) if f is not None)
    referral = SuggestionSpec("pt-referral", (suggest.pt_referral(facts),), recommended=True)
    return finding(orders, Reason("default", evidence), suggestions=(referral,))
