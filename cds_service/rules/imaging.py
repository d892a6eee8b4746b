"""Imaging rules: imaging-without-red-flags, imaging-modality, red-flag-urgent.

``needs`` names the data whose absence could make a rule fire wrongly. A rule that discourages
imaging needs every part of the record that could show a red flag; a rule that fires on positive
evidence needs only the data behind its "no ..." conditions.
"""

from __future__ import annotations

from typing import Any

from cds_service.facts import DraftOrder, Fact, Imaging, PatientFacts, RedFlag
from cds_service.facts.model import CONDITIONS, IMAGING, MEDICATIONS, OBSERVATIONS, PATIENT, PROCEDURES, SERVICE_REQUESTS
from cds_service.rules import params, suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule
from cds_service.rules.physical_therapy import pt_possible
from cds_service.rules.scope import SPINE_CT, SPINE_IMAGING, SPINE_MRI, scoped_orders

# Red flags can be excluded only when every part of the record that could show one was read.
RED_FLAG_DATA = (PATIENT, CONDITIONS, PROCEDURES, MEDICATIONS, OBSERVATIONS)
# "No spine MRI done" can be said only when every place a study is recorded was read.
IMAGING_DATA = (PROCEDURES, SERVICE_REQUESTS, IMAGING)
URGENT_KINDS = ("infection", "malignancy", "neurological")
REGION_OF = {
    "imaging-xr-cervical-spine": "cervical",
    "imaging-ct-cervical-spine": "cervical",
    "imaging-mri-cervical-spine": "cervical",
    "imaging-xr-thoracic-spine": "thoracic",
    "imaging-ct-thoracic-spine": "thoracic",
    "imaging-mri-thoracic-spine": "thoracic",
}
CONTRAST_STUDY = {"cervical": suggest.MRI_CERVICAL_WITH_CONTRAST, "thoracic": suggest.MRI_THORACIC_WITH_CONTRAST}


def _present(*facts: Fact | None) -> tuple[Fact, ...]:
    return tuple(f for f in facts if f is not None)


def _regions(order: DraftOrder) -> set[str]:
    return {region for vs_id, region in REGION_OF.items() if vs_id in order.valuesets}


def _unique(orders: list[DraftOrder]) -> tuple[DraftOrder, ...]:
    return tuple(dict.fromkeys(orders))


@rule(
    "imaging-without-red-flags",
    needs=RED_FLAG_DATA + (SERVICE_REQUESTS,),
    reasons=("early-pain", "no-pt"),
    suggestions=("remove-and-refer", "remove", "swap-for-pt"),
    params=params.EarlyImaging,
    valuesets=SPINE_IMAGING + ("physical-therapy",),
    reassures=True,  # "the record shows no red flag"
)
def imaging_without_red_flags(data: RuleInput) -> Finding | None:
    """Spine imaging with no red flag, no radicular/myelopathic signs or fusion, in early pain or before PT.
    A fusion that could be on record (``cervical_fusion_doubt``) keeps it silent; PT that could be on
    record or planned (``pt_possible``) counts as PT planned."""
    facts, orders = data.facts, data.triggering(*SPINE_IMAGING)
    if not orders or facts.red_flags or facts.radiculopathy or facts.myelopathy or facts.cervical_fusion:
        return None
    if facts.cervical_fusion_doubt:  # a fusion could be on record
        return None
    if neuro_doubt(facts):
        return None
    planned = pt_possible(data)
    pain_days = facts.pain_days
    early = pain_days is not None and pain_days < data.params["pain_weeks_max"] * 7
    if not early and planned:
        return None
    pain = _present(facts.pain)
    reasons = []
    if early and pain_days is not None:
        about = {"pain_weeks": pain_days // 7, "pain_days": pain_days}
        reasons.append(Reason("early-pain", pain + facts.physical_therapy, about))
    if not planned:
        reasons.append(Reason("no-pt", pain))
    actions = suggest.remove(orders)
    suggestions: tuple[SuggestionSpec, ...]
    if planned:
        suggestions = (SuggestionSpec("remove", actions, recommended=True),)
    else:  # the alternative order, rated: the first imaging order becomes the referral, the others go
        swap = (suggest.swap_for_pt(orders[0], facts),) + suggest.remove(orders[1:])
        suggestions = (
            SuggestionSpec("remove-and-refer", actions + (suggest.pt_referral(facts),), recommended=True),
            SuggestionSpec("swap-for-pt", swap),
        )
    return finding(orders, *reasons, suggestions=suggestions)


def neuro_doubt(facts: PatientFacts) -> tuple[Fact, ...]:
    """Conditions that could show radiculopathy or myelopathy but were not understood: a rule that needs
    neither on record stays silent."""
    return facts.radiculopathy_doubt + facts.myelopathy_doubt


def _new_neuro_finding(facts: PatientFacts, since: Imaging) -> bool:
    """A radicular or myelopathic diagnosis dated after the prior study (undated counts as possibly new),
    or a condition that could be one but was not understood (``neuro_doubt``), dated so."""
    for neuro in _present(facts.radiculopathy, facts.myelopathy) + neuro_doubt(facts):
        if neuro.on is None or since.fact.on is None or neuro.on > since.fact.on:
            return True
    return False


@rule(
    "imaging-modality",
    needs=(CONDITIONS,),
    reasons=("fusion-mri", "recent-study", "contrast"),
    suggestions=("with-contrast",),
    valuesets=SPINE_CT + SPINE_MRI + ("imaging-mri-spine-without-contrast",),
)
def imaging_modality(data: RuleInput) -> Finding | None:
    """The ordered spine study is likely the wrong one: (a) MRI after fusion, (b) a recent duplicate, (c) no contrast."""
    facts = data.facts
    urgent = facts.urgent_flags
    orders: list[DraftOrder] = []
    reasons: list[Reason] = []
    suggestions: list[SuggestionSpec] = []

    # (a) cervical fusion, MRI ordered, no radiculopathy/myelopathy: radiographs ± CT show nonunion and hardware.
    fusion_mri = data.triggering("imaging-mri-cervical-spine")
    if facts.cervical_fusion and fusion_mri and not (facts.radiculopathy or facts.myelopathy or urgent or neuro_doubt(facts)):
        orders += fusion_mri
        reasons.append(Reason("fusion-mri", (facts.cervical_fusion,), {"orders": [o.display for o in fusion_mri]}))

    # (b) CT or MRI of the same region within the recent-imaging window, nothing new since
    # (rules.md makes no exception for urgent red flags: the recent study still answers them).
    for order in data.triggering(*SPINE_CT, *SPINE_MRI):
        regions = _regions(order)
        prior = [i for i in facts.spine_imaging if i.modality in ("ct", "mri") and i.region in regions]
        if prior and not _new_neuro_finding(facts, prior[0]):
            study = prior[0]
            orders.append(order)
            days = study.fact.days_before(facts.today)
            about: dict[str, Any] = {"order": order.display, "modality": study.modality, "region": study.region, "days": days}
            reasons.append(Reason("recent-study", (study.fact,), about))

    # (c) urgent infection/malignancy flag, MRI without contrast ordered.
    flags = [f for f in urgent if f.kind in ("infection", "malignancy")]
    plain = data.triggering("imaging-mri-spine-without-contrast")
    if flags and plain:
        orders += plain
        evidence = tuple(fact for flag in flags for fact in flag.facts)
        about = {"flags": [f.kind for f in flags], "orders": [o.display for o in plain]}
        reasons.append(Reason("contrast", evidence, about))
        actions = tuple(
            action
            for order in plain
            for region in sorted(_regions(order))
            for action in (*suggest.remove((order,)), suggest.create("mri-with-contrast", facts, CONTRAST_STUDY[region]))
        )
        if actions:
            suggestions.append(SuggestionSpec("with-contrast", actions, recommended=True))

    if not reasons:
        return None
    return finding(_unique(orders), *reasons, suggestions=tuple(suggestions))


def _evidence(flag: RedFlag) -> dict[str, Any]:
    """The flag's evidence for the card: each fact, and the distinct kinds of sign (fact keys) in order."""
    items = [{"key": f.key, "display": f.display, "on": f.on, "value": f.value, "unit": f.unit} for f in flag.facts]
    return {"evidence": items, "signs": list(dict.fromkeys(f.key for f in flag.facts))}


def _urgent_region(data: RuleInput, orders: tuple[DraftOrder, ...]) -> str:
    """The region of the urgent MRI: "thoracic" when the pain is thoracic only — every active
    in-scope condition is thoracic and every ordered spine study too (one of them at least) —
    else "cervical". A condition coded without a thoracic code counts as cervical."""
    regions = set(data.facts.pain_regions)
    for order in orders:
        regions |= _regions(order)
    return "thoracic" if regions == {"thoracic"} else "cervical"


@rule(
    "red-flag-urgent",
    # Flags are positive evidence; the record of MRIs done only suppresses the card. A server that
    # does not serve ImagingStudy must not silence a critical card, so that list is not required.
    needs=(PROCEDURES, SERVICE_REQUESTS),
    reasons=URGENT_KINDS,
    suggestions=("urgent-workup",),
    params=params.UrgentImaging,
    valuesets=SPINE_MRI,
)
def red_flag_urgent(data: RuleInput) -> Finding | None:
    """An urgent red flag (infection, malignancy, neurological) and no spine MRI done recently or drafted."""
    facts = data.facts
    flags = [f for f in facts.urgent_flags if f.kind in URGENT_KINDS]
    orders = scoped_orders(facts, data.orders)
    if not flags or not orders or data.drafted(*SPINE_MRI):
        return None
    window = data.params["mri_window_days"]
    for study in facts.imaging_history:
        days = study.fact.days_before(facts.today)
        if study.modality == "mri" and days is not None and 0 <= days <= window:
            return None
    reasons = tuple(Reason(flag.kind, flag.facts, _evidence(flag)) for flag in flags)
    actions = (
        suggest.create("mri", facts, CONTRAST_STUDY[_urgent_region(data, orders)], priority="urgent"),
        suggest.create("esr", facts, suggest.ESR, priority="urgent"),
        suggest.create("crp", facts, suggest.CRP, priority="urgent"),
    )
    workup = SuggestionSpec("urgent-workup", actions, recommended=True)
    return finding(orders, *reasons, suggestions=(workup,))
