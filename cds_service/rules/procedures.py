"""Procedure rules: interventional-axial-pain, epidural-radicular, trigger-point-injection,
manipulation-after-fusion, bed-rest (surgery is in ``surgery``).

``needs`` names the data whose absence could make a rule fire wrongly (see ``imaging``).
"""

from __future__ import annotations

from collections.abc import Iterable

from cds_service.facts import DraftOrder, Fact
from cds_service.facts.dates import add_months
from cds_service.facts.model import CONDITIONS, IMAGING, PROCEDURES, SERVICE_REQUESTS
from cds_service.rules import params, suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.physical_therapy import may_refer
from cds_service.rules.scope import SPINE_INJECTION


def _present(*facts: Fact | None) -> tuple[Fact, ...]:
    return tuple(f for f in facts if f is not None)


def chronic_pain_days(data: RuleInput, param: str = "pain_weeks_min") -> int | None:
    """Days of pain when they reach the rule's chronic threshold (weeks param), else None."""
    days = data.facts.pain_days
    return days if days is not None and days >= data.params[param] * 7 else None


def remove_continue_pt(data: RuleInput, orders: tuple[DraftOrder, ...]) -> SuggestionSpec:
    """Cancel the orders; add a PT referral when none is on record or planned."""
    actions = suggest.remove(orders)
    if may_refer(data):
        return SuggestionSpec("remove-and-refer", actions + (suggest.pt_referral(data.facts),), recommended=True)
    return SuggestionSpec("remove", actions, recommended=True)


def text_matches(
    orders: Iterable[DraftOrder], patterns: Iterable[str], exclusions: Iterable[str] = ()
) -> tuple[DraftOrder, ...]:
    """Non-medication orders no value set classifies whose text holds a pattern (and no exclusion)."""
    patterns, exclusions = [p.lower() for p in patterns], [x.lower() for x in exclusions]
    return tuple(
        o
        for o in orders
        if o.resource_type != "MedicationRequest"
        and not o.valuesets
        and any(p in o.text for p in patterns)
        and not any(x in o.text for x in exclusions)
    )


@rule(
    "interventional-axial-pain",
    needs=(CONDITIONS,),
    suggestions=("remove", "remove-and-refer"),
    params=params.ChronicPain,
    valuesets=SPINE_INJECTION,
)
def interventional_axial_pain(data: RuleInput) -> Finding | None:
    """Epidural, facet or radiofrequency procedure for chronic pain without radiculopathy (none on
    record, and no condition that could be one but was not understood)."""
    facts, orders = data.facts, data.triggering(*SPINE_INJECTION)
    days = chronic_pain_days(data)
    if not orders or facts.radiculopathy or facts.radiculopathy_doubt or days is None:
        return None
    reason = Reason("default", _present(facts.pain), {"pain_weeks": days // 7})
    return finding(orders, reason, suggestions=(remove_continue_pt(data, orders),))


@rule(
    "epidural-radicular",
    needs=(CONDITIONS, PROCEDURES, SERVICE_REQUESTS, IMAGING),
    reasons=("confirmed", "no-imaging", "no-guidance", "chronic"),
    suggestions=("image-guided",),
    params=params.EpiduralRadicular,
    valuesets=("epidural-steroid-injection", "esi-without-image-guidance"),
)
def epidural_radicular(data: RuleInput) -> Finding | None:
    """ESI with radiculopathy: info when imaging confirms and PT is done; warning without imaging
    or image guidance, or in chronic pain."""
    facts, orders = data.facts, data.triggering("epidural-steroid-injection")
    if not orders or facts.radiculopathy is None:
        return None
    months = data.params["imaging_months"]
    since = add_months(facts.today, -months)
    confirming = [
        i for i in facts.imaging_history if i.modality in ("ct", "mri") and i.fact.on is not None and i.fact.on >= since
    ]
    # A study that could be a CT or MRI in the window, not understood: confirming imaging is not ruled out.
    doubted = [d for d in facts.imaging_history_doubt if d.on is None or d.on >= since]
    warnings = []
    if not confirming and not doubted:
        warnings.append(Reason("no-imaging", (facts.radiculopathy,), {"months": months}))
    unguided = data.triggering("esi-without-image-guidance")
    if unguided:
        warnings.append(Reason("no-guidance", (facts.radiculopathy,), {"orders": [o.display for o in unguided]}))
    days = chronic_pain_days(data)
    if days is not None:
        warnings.append(Reason("chronic", _present(facts.pain), {"pain_weeks": days // 7}))
    if warnings:
        suggestions: tuple[SuggestionSpec, ...] = ()
        if unguided:
            guided = suggest.create("image-guided-esi", facts, suggest.ESI_IMAGE_GUIDED)
            actions = suggest.remove(unguided) + (guided,)
            suggestions = (SuggestionSpec("image-guided", actions),)
        return finding(orders, *warnings, suggestions=suggestions)
    if not confirming or not facts.pt_done:
        return None  # rules.md gives no card for a confirmed, guided ESI in subacute pain before PT is done
    evidence = (facts.radiculopathy, confirming[0].fact, *facts.physical_therapy[:1])
    return finding(orders, Reason("confirmed", evidence, {"months": months}))


@rule("trigger-point-injection", needs=(CONDITIONS,), params=params.ChronicPain, valuesets=("trigger-point-injection",))
def trigger_point_injection(data: RuleInput) -> Finding | None:
    """Trigger-point injection for pain of 12 weeks or more: weak evidence, conflicting sources."""
    orders = data.triggering("trigger-point-injection")
    days = chronic_pain_days(data)
    if not orders or days is None:
        return None
    reason = Reason("default", _present(data.facts.pain), {"pain_weeks": days // 7})
    return finding(orders, reason)


@rule(
    "manipulation-after-fusion",
    needs=(),  # fires on positive findings only: missing data can only keep it silent
    reasons=("cervical-fusion", "myelopathy", "instability", "osteoporosis", "anticoagulant"),
    suggestions=("mobilization-instead", "remove"),
    params=params.ManipulationAfterFusion,
    valuesets=("spinal-manipulation", "cervical-fusion"),
)
def manipulation_after_fusion(data: RuleInput) -> Finding | None:
    """Spinal manipulation (or a chiropractic referral) with cervical fusion, myelopathy, instability,
    osteoporosis or an anticoagulant."""
    facts = data.facts
    orders = data.triggering("spinal-manipulation") + text_matches(data.orders, data.params["referral_patterns"])
    risks = {
        "cervical-fusion": facts.cervical_fusion,
        "myelopathy": facts.myelopathy,
        "instability": facts.instability,
        "osteoporosis": facts.osteoporosis,
        "anticoagulant": facts.anticoagulant,
    }
    reasons = [Reason(key, (fact,)) for key, fact in risks.items() if fact is not None]
    if not orders or not reasons:
        return None
    actions = suggest.remove(orders)
    if not may_refer(data):
        suggestion = SuggestionSpec("remove", actions, recommended=True)
    else:
        referral = suggest.pt_referral(facts, note=data.params["referral_note"])
        suggestion = SuggestionSpec("mobilization-instead", actions + (referral,), recommended=True)
    return finding(orders, *reasons, suggestions=(suggestion,))


@rule("bed-rest", needs=(), suggestions=("remove",), params=params.BedRest)
def bed_rest(data: RuleInput) -> Finding | None:
    """A bed-rest order, by code (value set bed-rest) or by text, in the neck/upper-back pain context."""
    params = data.params
    orders = data.triggering("bed-rest") + text_matches(data.orders, params["text_patterns"], params["text_exclusions"])
    if not orders:
        return None
    reason = Reason("default", _present(data.facts.pain))
    removal = SuggestionSpec("remove", suggest.remove(orders), recommended=True)
    return finding(orders, reason, suggestions=(removal,))
