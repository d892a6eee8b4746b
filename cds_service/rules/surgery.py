"""Surgery rules: surgery-before-conservative-care, fusion-for-axial-pain, surgery-age-80,
post-fusion-evaluation.

``needs`` names the data whose absence could make a rule fire wrongly (see ``imaging``).
"""

from __future__ import annotations

from cds_service.facts import Fact
from cds_service.facts.dates import add_months, whole_months
from cds_service.facts.model import CONDITIONS, OBSERVATIONS, PATIENT, PROCEDURES, SERVICE_REQUESTS
from cds_service.rules import params, suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.physical_therapy import may_refer
from cds_service.rules.scope import MUSCLE_RELAXANTS, SPINE_IMAGING, SPINE_INJECTION

# Red flags that are themselves indications for fusion (LCD L39788: trauma, tumour, infection).
FUSION_INDICATIONS = ("infection", "malignancy", "trauma")
POST_FUSION_ORDERS = SPINE_IMAGING + ("opioids",) + MUSCLE_RELAXANTS + SPINE_INJECTION


def _present(*facts: Fact | None) -> tuple[Fact, ...]:
    return tuple(f for f in facts if f is not None)


@rule(
    "surgery-before-conservative-care",
    needs=(CONDITIONS, OBSERVATIONS, PROCEDURES, SERVICE_REQUESTS),
    reasons=("no-pt", "pt-short"),
    suggestions=("pt-referral",),
    valuesets=("spine-surgery", "physical-therapy"),
)
def surgery_before_conservative_care(data: RuleInput) -> Finding | None:
    """Spine surgery ordered before PT_DONE, with no myelopathy, instability or urgent red flag (nor a
    condition that could show myelopathy or instability but was not understood); silent when a record
    entry could be PT but was not understood (PT_DONE cannot be ruled out)."""
    facts, orders = data.facts, data.triggering("spine-surgery")
    if not orders or facts.pt_done or facts.myelopathy or facts.instability or facts.urgent_flags:
        return None
    if facts.physical_therapy_doubt or facts.myelopathy_doubt or facts.instability_doubt:
        return None
    planned = bool(data.drafted("physical-therapy"))
    if facts.physical_therapy:
        first = facts.physical_therapy[0]
        days = first.days_before(facts.today)
        weeks = None if days is None else days // 7
        reason = Reason("pt-short", facts.physical_therapy + _present(facts.pain), {"pt_weeks": weeks})
    else:
        reason = Reason("no-pt", _present(facts.pain), {"planned": planned})
    suggestions: tuple[SuggestionSpec, ...] = ()
    if may_refer(data):
        suggestions = (SuggestionSpec("pt-referral", (suggest.pt_referral(facts),), recommended=True),)
    return finding(orders, reason, suggestions=suggestions)


@rule("fusion-for-axial-pain", needs=(CONDITIONS,), suggestions=("remove",), valuesets=("cervical-fusion",))
def fusion_for_axial_pain(data: RuleInput) -> Finding | None:
    """Cervical fusion ordered for axial pain only: no radiculopathy, myelopathy, instability, trauma,
    tumour or infection, nor a condition that could show one of the first three but was not understood."""
    facts, orders = data.facts, data.triggering("cervical-fusion")
    if not orders or facts.pain is None or facts.radiculopathy or facts.myelopathy or facts.instability:
        return None
    if facts.radiculopathy_doubt or facts.myelopathy_doubt or facts.instability_doubt:
        return None
    if any(flag.kind in FUSION_INDICATIONS for flag in facts.red_flags):
        return None
    days = facts.pain_days
    reason = Reason("default", facts.scope_conditions or (facts.pain,), {"pain_weeks": None if days is None else days // 7})
    return finding(orders, reason, suggestions=(SuggestionSpec("remove", suggest.remove(orders)),))


@rule("surgery-age-80", needs=(PATIENT,), suggestions=("risk-consult",), params=params.SurgeryAge, valuesets=("cervical-spine-surgery",))
def surgery_age_80(data: RuleInput) -> Finding | None:
    """Cervical spine surgery ordered at age 80 or more."""
    facts, orders = data.facts, data.triggering("cervical-spine-surgery")
    if not orders or facts.age.at_least(data.params["age_min"]) is not True:
        return None
    consult = suggest.create_text("risk-consult", facts, data.params["consult_text"])
    return finding(
        orders, Reason("default", (facts.age_fact(),), {"age": facts.age.shown}),
        suggestions=(SuggestionSpec("risk-consult", (consult,), recommended=True),),
    )


@rule(
    "post-fusion-evaluation",
    needs=(CONDITIONS,),
    reasons=("early-post-op", "nonunion", "adjacent-segment"),
    params=params.PostFusion,
    valuesets=("cervical-fusion", "opioids"),
)
def post_fusion_evaluation(data: RuleInput) -> Finding | None:
    """Cervical fusion on record, pain persisting 12 weeks or more after it, and an imaging, opioid,
    relaxant or injection order.

    Pain that persists after a fusion is measured from the later of pain onset and fusion date:
    pain that began before the operation has lasted, after it, only as long as the time since it.
    Silent when an entry that could be a cervical fusion, not understood, is dated after it: the advice
    depends on the date of the latest fusion.
    """
    facts, params = data.facts, data.params
    fusion, pain, orders = facts.cervical_fusion, facts.pain, data.triggering(*POST_FUSION_ORDERS)
    if fusion is None or fusion.on is None or pain is None or pain.on is None or not orders or fusion.on > facts.today:
        return None
    if any(d.on is not None and d.on > fusion.on for d in facts.cervical_fusion_doubt):
        return None
    if facts.pain_doubt:  # a condition whose onset was not understood: the pain may have begun earlier
        return None
    days = (facts.today - max(pain.on, fusion.on)).days
    if days < params["pain_weeks_min"] * 7:
        return None
    if facts.today < add_months(fusion.on, params["defer_months"]):
        key = "early-post-op"
    elif facts.today <= add_months(fusion.on, params["nonunion_months_max"]):
        key = "nonunion"
    else:
        key = "adjacent-segment"
    months = whole_months(fusion.on, facts.today)
    about = {"months": months, "years": months // 12, "pain_weeks": days // 7, "pain_before_fusion": pain.on < fusion.on}
    reason = Reason(key, (fusion, pain), about)
    return finding(orders, reason)
