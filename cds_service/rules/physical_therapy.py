"""physical-therapy-first, and what "PT on record or planned" means for every rule."""

from __future__ import annotations

from collections.abc import Iterable

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.facts.model import CONDITIONS, MEDICATIONS, OBSERVATIONS, PATIENT, PROCEDURES, SERVICE_REQUESTS
from cds_service.rules import suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.scope import scoped_orders

PT_DATA = (PROCEDURES, SERVICE_REQUESTS)
PT = "physical-therapy"  # the value set, and the fact its text names (cards/_fact_terms.yaml)


def pt_planned(data: RuleInput) -> bool:
    """PT_ANY: physical therapy on record within the look-back, or a PT referral among the draft orders."""
    return data.facts.pt_any or bool(data.drafted(PT))


def pt_in_doubt(facts: PatientFacts, orders: Iterable[DraftOrder]) -> bool:
    """Whether PT on record or planned cannot be ruled out though none is understood: a record entry
    that could be PT (``physical_therapy_doubt``), or a draft order in no value set whose text names it."""
    return bool(facts.physical_therapy_doubt) or any(PT in o.named for o in orders)


def pt_possible(data: RuleInput) -> bool:
    """PT_ANY, or PT that could be on record or planned but was not understood (``pt_in_doubt``):
    what needs no PT stays silent, and no new referral is suggested."""
    return pt_planned(data) or pt_in_doubt(data.facts, data.all_orders)


def may_refer(data: RuleInput) -> bool:
    """Whether suggesting a new PT referral is sound: PT data was read, and no PT is on record or
    planned, nor could be (``pt_possible``)."""
    return data.facts.has(*PT_DATA) and not pt_possible(data)


@rule(
    "physical-therapy-first",
    needs=(PATIENT, CONDITIONS, PROCEDURES, MEDICATIONS, OBSERVATIONS, SERVICE_REQUESTS),
    suggestions=("pt-referral",),
    valuesets=("physical-therapy",),
    reassures=True,  # "no red flag was found"
)
def physical_therapy_first(data: RuleInput) -> Finding | None:
    """An in-scope order with no PT on record or drafted (nor any that could be) and no red flag of any kind."""
    facts = data.facts
    orders = tuple(o for o in scoped_orders(facts, data.orders) if not o.in_any(PT))
    if not orders or pt_possible(data) or facts.red_flags:
        return None
    evidence = tuple(f for f in (facts.pain,) if f is not None)
    referral = SuggestionSpec("pt-referral", (suggest.pt_referral(facts),), recommended=True)
    return finding(orders, Reason("default", evidence), suggestions=(referral,))
