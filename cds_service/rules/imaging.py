"""Imaging rules: imaging-without-red-flags, imaging-modality, red-flag-urgent."""

from __future__ import annotations

from cds_service.facts.model import CONDITIONS, MEDICATIONS, OBSERVATIONS, PATIENT, PROCEDURES, SERVICE_REQUESTS
from cds_service.rules import suggest
from cds_service.rules.base import Finding, Reason, RuleInput, SuggestionSpec, finding, rule

SPINE_IMAGING = (
    "imaging-xr-cervical-spine",
    "imaging-xr-thoracic-spine",
    "imaging-ct-cervical-spine",
    "imaging-ct-thoracic-spine",
    "imaging-mri-cervical-spine",
    "imaging-mri-thoracic-spine",
)
# Red flags can be excluded only when every part of the record that could show one was read.
RED_FLAG_DATA = (PATIENT, CONDITIONS, PROCEDURES, MEDICATIONS, OBSERVATIONS)


@rule(
    "imaging-without-red-flags",
    needs=RED_FLAG_DATA + (SERVICE_REQUESTS,),
    reasons=("early-pain", "no-pt"),
    suggestions=("remove-and-refer", "remove"),
    params=("pain_weeks_max",),
)
def imaging_without_red_flags(data: RuleInput) -> Finding | None:
    """Spine imaging with no red flag, no radicular/myelopathic signs or fusion, in early pain or before PT."""
    facts, orders = data.facts, data.triggering(*SPINE_IMAGING)
    if not orders or facts.red_flags or facts.radiculopathy or facts.myelopathy or facts.cervical_fusion:
        return None
    pt_on_record = facts.pt_any or bool(data.drafted("physical-therapy"))
    pain_days = facts.pain_days
    early = pain_days is not None and pain_days < data.params["pain_weeks_max"] * 7
    if not (early or not pt_on_record):
        return None
    evidence = tuple(f for f in (facts.pain,) if f is not None) + facts.physical_therapy
    actions = suggest.remove(orders)
    suggestion = (
        SuggestionSpec("remove", actions, recommended=True)
        if pt_on_record
        else SuggestionSpec("remove-and-refer", actions + (suggest.pt_referral(facts),), recommended=True)
    )
    reason = Reason("early-pain" if early else "no-pt", evidence, {"pain_weeks": None if pain_days is None else pain_days // 7})
    return finding("imaging-without-red-flags", orders, reason, suggestions=(suggestion,))
