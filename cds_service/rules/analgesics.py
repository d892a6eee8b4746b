"""Non-opioid drug rules: systemic-corticosteroid, nsaid-risk, gabapentinoid-check, duloxetine-check."""

from __future__ import annotations

from cds_service.facts.model import CONDITIONS, MEDICATIONS, OBSERVATIONS, PATIENT, all_facts
from cds_service.rules import params, suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.medications import (
    ORAL,
    SYSTEMIC,
    co_prescribed,
    days_of,
    distinct_drugs,
    doubted,
    egfr_below,
    older,
    ordered,
    present,
    recorded,
    remove_suggestions,
)


@rule(
    "systemic-corticosteroid",
    needs=(CONDITIONS, MEDICATIONS),
    reasons=("axial", "radicular"),
    suggestions=("remove-and-refer", "remove"),
    params=params.CourseLimit,
    valuesets=("systemic-corticosteroids",),
)
def systemic_corticosteroid(data: RuleInput) -> Finding | None:
    """An oral or injected corticosteroid for in-scope pain: warning for axial pain, info with radiculopathy.

    A patient already on chronic systemic steroid therapy is continuing it for another reason: silent; so
    when a steroid on record could be chronic use but its dose or start is not known (``chronic_steroid_doubt``).
    So is a record with a condition that could be radiculopathy but was not understood (text, a local
    code, another region's code): whether the pain is axial is not known.
    """
    facts = data.facts
    orders = ordered(data, "systemic-corticosteroids", routes=SYSTEMIC)
    if not orders or recorded(data, facts.chronic_steroid) is not None or doubted(data, facts.chronic_steroid_doubt):
        return None
    if facts.radiculopathy is None and facts.radiculopathy_doubt:
        return None
    if facts.radiculopathy is None:
        reason = Reason("axial", present(facts.pain))
        return finding(orders, reason, suggestions=remove_suggestions(data, orders))
    limit = data.params["max_course_days"]
    longer = [{"display": o.display, "days": days_of(o)} for o in orders if (days_of(o) or 0) > limit]
    reason = Reason("radicular", present(facts.radiculopathy, facts.osteoporosis), {"longer": longer})
    return finding(orders, reason)


@rule(
    "nsaid-risk",
    needs=(PATIENT, CONDITIONS, MEDICATIONS, OBSERVATIONS),
    reasons=("renal", "bleeding", "cardiac-gi", "age"),
    suggestions=("switch-topical", "switch-acetaminophen", "remove"),
    params=params.NsaidRisk,
    valuesets=("nsaids", "anticoagulants", "antiplatelets", "systemic-corticosteroids", "acetaminophen"),
)
def nsaid_risk(data: RuleInput) -> Finding | None:
    """An oral NSAID with kidney disease, a bleeding-risk drug, heart failure or ulcer; info at 75+ otherwise."""
    facts, params = data.facts, data.params
    orders = ordered(data, "nsaids", routes=ORAL)
    if not orders:
        return None
    reasons: list[Reason] = []
    renal = present(egfr_below(facts, params["egfr_min"]), facts.ckd_4_5)
    if renal:
        reasons.append(Reason("renal", renal))
    bleeding = all_facts(
        [
            present(recorded(data, facts.anticoagulant), recorded(data, facts.antiplatelet)),
            co_prescribed(data, "anticoagulant", "anticoagulants", exclude=orders),
            co_prescribed(data, "antiplatelet", "antiplatelets", exclude=orders),
            co_prescribed(data, "systemic-steroid", "systemic-corticosteroids", exclude=orders, routes=SYSTEMIC),
        ]
    )
    if bleeding:
        reasons.append(Reason("bleeding", bleeding))
    cardiac_gi = present(facts.heart_failure, facts.peptic_ulcer)
    if cardiac_gi:
        reasons.append(Reason("cardiac-gi", cardiac_gi))
    remove = suggest.remove(orders)
    topical = SuggestionSpec("switch-topical", remove + (suggest.medication_request("diclofenac-gel", facts, suggest.DICLOFENAC_GEL),))
    if reasons:
        acetaminophen = suggest.medication_request("acetaminophen", facts, suggest.ACETAMINOPHEN_500)
        switches = (topical, SuggestionSpec("switch-acetaminophen", remove + (acetaminophen,)), SuggestionSpec("remove", remove))
        return finding(orders, *reasons, suggestions=switches)
    if older(facts, params["gi_risk_age"]):
        return finding(orders, Reason("age", (facts.age_fact(),)), suggestions=(topical,))
    return None


@rule(
    "gabapentinoid-check",
    needs=(PATIENT, CONDITIONS, MEDICATIONS, OBSERVATIONS),
    reasons=("no-neuropathic", "renal", "falls-older", "opioid-older", "cns-older"),
    suggestions=("remove",),
    params=params.GabapentinoidCheck,
    valuesets=("gabapentinoids", "opioids", "cns-active"),
)
def gabapentinoid_check(data: RuleInput) -> Finding | None:
    """Gabapentin or pregabalin: no neuropathic diagnosis, renal dosing, and sedation risks at 65+."""
    facts, params = data.facts, data.params
    orders = ordered(data, "gabapentinoids")
    if not orders:
        return None
    reasons: list[Reason] = []
    if facts.neuropathic is None and not (facts.neuropathic_doubt or facts.radiculopathy_doubt):
        reasons.append(Reason("no-neuropathic", present(facts.pain)))
    egfr = egfr_below(facts, params["egfr_renal_dose"])
    if egfr is not None:
        reasons.append(Reason("renal", (egfr,)))
    if older(facts, params["older_age"]):
        age = facts.age_fact()
        if facts.falls is not None:
            reasons.append(Reason("falls-older", (age, facts.falls)))
        opioids = co_prescribed(data, "opioid", "opioids", exclude=orders)
        if opioids:
            reasons.append(Reason("opioid-older", (age, *opioids)))
        cns = distinct_drugs(data, "cns-active", "cns-active")
        if len(cns) >= params["cns_drugs_max"]:
            reasons.append(Reason("cns-older", (age, *cns), {"count": len(cns)}))
    if not reasons:
        return None
    only_renal = all(r.key == "renal" for r in reasons)
    suggestions = () if only_renal else (SuggestionSpec("remove", suggest.remove(orders)),)
    return finding(orders, *reasons, suggestions=suggestions)


@rule(
    "duloxetine-check",
    needs=(PATIENT, CONDITIONS, OBSERVATIONS),
    reasons=("renal", "falls-older", "older"),
    suggestions=("remove",),
    params=params.RenalOlderAge,
    valuesets=("duloxetine",),
)
def duloxetine_check(data: RuleInput) -> Finding | None:
    """Duloxetine with eGFR below 30 or falls at 65+ (warnings); info at 65+ otherwise (sodium)."""
    facts, params = data.facts, data.params
    orders = ordered(data, "duloxetine")
    if not orders:
        return None
    reasons: list[Reason] = []
    egfr = egfr_below(facts, params["egfr_min"])
    if egfr is not None:
        reasons.append(Reason("renal", (egfr,)))
    if older(facts, params["older_age"]):
        if facts.falls is not None:
            reasons.append(Reason("falls-older", (facts.age_fact(), facts.falls)))
        else:
            reasons.append(Reason("older", (facts.age_fact(),)))
    if not reasons:
        return None
    warned = any(r.key != "older" for r in reasons)
    suggestions = (SuggestionSpec("remove", suggest.remove(orders)),) if warned else ()
    return finding(orders, *reasons, suggestions=suggestions)
