"""The scope gate: a rule may speak only when the ordering context is neck/upper-back pain."""

from __future__ import annotations

from cds_service.facts import DraftOrder, PatientFacts

SPINE_SPECIFIC = (
    "imaging-xr-cervical-spine",
    "imaging-xr-thoracic-spine",
    "imaging-ct-cervical-spine",
    "imaging-ct-thoracic-spine",
    "imaging-mri-cervical-spine",
    "imaging-mri-thoracic-spine",
    "epidural-steroid-injection",
    "facet-injection",
    "radiofrequency-ablation",
    "spine-surgery",
    "spinal-manipulation",
)

# Orders the guideline speaks about: a card is about one of these, never about a statin.
PAIN_MANAGEMENT = SPINE_SPECIFIC + (
    "trigger-point-injection",
    "bed-rest",
    "physical-therapy",
    "muscle-relaxants-beers",
    "baclofen",
    "tizanidine",
    "systemic-corticosteroids",
    "opioids",
    "nsaids",
    "acetaminophen",
    "gabapentinoids",
    "duloxetine",
    "benzodiazepines",
)


def in_scope(facts: PatientFacts, orders: tuple[DraftOrder, ...]) -> bool:
    """True when an active neck/upper-back pain condition, an order's reason, or a spine-specific order says so."""
    if facts.scope_conditions:
        return True
    for order in orders:
        if order.reason_in_scope or order.in_any(*SPINE_SPECIFIC) or facts.scope_refs.intersection(order.reason_refs):
            return True
    return False
