"""physical-therapy-first: conservative care before anything else, when nothing argues against it."""

from __future__ import annotations

from cds_service.facts.model import CONDITIONS, MEDICATIONS, OBSERVATIONS, PATIENT, PROCEDURES, SERVICE_REQUESTS
from cds_service.rules import suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.scope import PAIN_MANAGEMENT


@rule(
    "physical-therapy-first",
    needs=(PATIENT, CONDITIONS, PROCEDURES, MEDICATIONS, OBSERVATIONS, SERVICE_REQUESTS),
    suggestions=("pt-referral",),
)
def physical_therapy_first(data: RuleInput) -> Finding | None:
    """A pain-management order with no PT on record or drafted and no red flag of any kind."""
    facts = data.facts
    orders = tuple(o for o in data.triggering(*PAIN_MANAGEMENT) if not o.in_any("physical-therapy"))
    if not orders or facts.pt_any or data.drafted("physical-therapy") or facts.red_flags:
        return None
    evidence = tuple(f for f in (facts.pain,) if f is not None)
    referral = SuggestionSpec("pt-referral", (suggest.pt_referral(facts),), recommended=True)
    return finding("physical-therapy-first", orders, Reason("default", evidence), suggestions=(referral,))
