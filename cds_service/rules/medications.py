"""Shared helpers of the medication rules (opioids, analgesics, muscle relaxants).

Drugs are matched by value set ids. A drug "on record" is an active MedicationRequest or
MedicationStatement that is not itself one of the draft orders (some EHRs return drafts in
the prefetch too); a drug "drafted" is another draft order of this request.
"""

from __future__ import annotations

from cds_service.facts import DraftOrder, Fact, PatientFacts
from cds_service.facts.model import SYSTEMIC_ROUTES, Medication
from cds_service.rules import suggest
from cds_service.rules.base import ActionSpec, RuleInput, SuggestionSpec
from cds_service.rules.physical_therapy import may_refer

Routes = frozenset[str | None]
# Routes that deliver a drug systemically; None = the order does not say (an unnamed form).
ORAL: Routes = frozenset({"oral", None})
SYSTEMIC: Routes = SYSTEMIC_ROUTES
DRAFT_ORDER = "draft-order"


def ordered(data: RuleInput, *valuesets: str, routes: Routes | None = None) -> tuple[DraftOrder, ...]:
    """Evaluated medication orders in the drug value sets (and, if given, by one of ``routes``)."""
    found = data.triggering(*valuesets)
    return tuple([o for o in found if o.medication is not None and (routes is None or o.medication.route in routes)])


def draft_refs(data: RuleInput) -> frozenset[str]:
    return frozenset(o.ref for o in data.all_orders)


def on_record(data: RuleInput, *valuesets: str, routes: Routes | None = None) -> tuple[Medication, ...]:
    """Active medications on record in the value sets, draft orders excluded."""
    drafts = draft_refs(data)
    return tuple(
        m
        for m in data.facts.active_in(*valuesets)
        if m.ref not in drafts and (routes is None or m.route in routes)
    )


def recorded(data: RuleInput, found: Fact | None) -> Fact | None:
    """``found`` unless the only evidence behind it is one of this request's draft orders."""
    if found is None or (found.refs and set(found.refs) <= draft_refs(data)):
        return None
    return found


def co_prescribed(
    data: RuleInput, key: str, *valuesets: str, exclude: tuple[DraftOrder, ...] = (), routes: Routes | None = None
) -> tuple[Fact, ...]:
    """Facts for drugs in the value sets that are active on record or drafted in this request.

    ``exclude`` leaves out the orders the rule is about (a drug does not interact with itself).
    """
    skip = {o.ref for o in exclude}
    record = tuple(m.as_fact(key) for m in on_record(data, *valuesets, routes=routes))
    drafted = tuple(
        Fact(DRAFT_ORDER, (o.ref,), o.display)
        for o in data.drafted(*valuesets)
        if o.ref not in skip and (routes is None or (o.medication is not None and o.medication.route in routes))
    )
    return record + drafted


def distinct_drugs(data: RuleInput, key: str, *valuesets: str) -> tuple[Fact, ...]:
    """One fact per distinct drug (same ingredients = one drug) on record or drafted in the sets."""
    drafts = draft_refs(data)
    seen: dict[frozenset[str], Fact] = {}
    for med in data.facts.active_in(*valuesets):
        if med.ref not in drafts:
            seen.setdefault(med.ingredients or frozenset({med.ref}), med.as_fact(key))
    for order in data.drafted(*valuesets):
        ingredients = order.medication.ingredients if order.medication is not None else frozenset()
        seen.setdefault(ingredients or frozenset({order.ref}), Fact(DRAFT_ORDER, (order.ref,), order.display))
    return tuple(seen.values())


def older(facts: PatientFacts, min_age: int) -> bool:
    """Age certainly ``min_age`` or more: an unknown age, or one a partial birth date leaves on both
    sides of ``min_age``, is not older (what needs it stays silent)."""
    return facts.age.at_least(min_age) is True


def doubted(data: RuleInput, doubts: tuple[Fact, ...]) -> bool:
    """Whether a record entry other than this request's draft orders leaves a fact in doubt (``<fact>_doubt``)."""
    drafts = draft_refs(data)
    return any(not (f.refs and set(f.refs) <= drafts) for f in doubts)


def _known_below(value: float, comparator: str | None, limit: float) -> bool:
    """Whether a result of ``value`` (a bound under ``comparator``) shows the true value below ``limit``."""
    if comparator is None or comparator == "<=":
        return value < limit
    if comparator == "<":
        return value <= limit
    return False  # ">", ">=": a lower bound never shows a value below anything


def egfr_below(facts: PatientFacts, limit: float) -> Fact | None:
    """The eGFR fact when the latest one is known to be below ``limit``; None when absent, not below, a bound
    that leaves it on either side (">20" for 30), or in doubt (a result that could be the latest was not
    understood: the rule relying on the value stays silent)."""
    egfr = facts.egfr
    if egfr is None or egfr.value is None or facts.egfr_doubt:
        return None
    return egfr if _known_below(egfr.value, egfr.comparator, limit) else None


def present(*facts: Fact | None) -> tuple[Fact, ...]:
    return tuple(f for f in facts if f is not None)


def remove_suggestions(
    data: RuleInput, orders: tuple[DraftOrder, ...], recommended: bool = True
) -> tuple[SuggestionSpec, ...]:
    """Remove the orders; with a PT referral too when one may be suggested (``may_refer``: the PT record
    was read, and no PT is on record or planned, nor could be)."""
    actions: tuple[ActionSpec, ...] = suggest.remove(orders)
    if not may_refer(data):
        return (SuggestionSpec("remove", actions, recommended),)
    return (SuggestionSpec("remove-and-refer", actions + (suggest.pt_referral(data.facts),), recommended),)


def days_of(order: DraftOrder) -> float | None:
    """Days the order covers, refills included; None when it does not say."""
    return None if order.medication is None else order.medication.dose.total_days
