"""The scope gate, and the value-set groups the rules classify orders by.

A rule may speak only when the ordering context is neck/upper-back pain (rules.md "Scope"): an
active condition in ``neck-upper-back-pain``, a draft order whose reason points to one, or a draft
order that is itself specific to the cervical/thoracic spine. Orders are classified only by the
value sets in ``cards/valuesets``; the groups below just name which sets a rule reads together.
"""

from __future__ import annotations

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.facts.model import CONDITIONS

SPINE_MRI = ("imaging-mri-cervical-spine", "imaging-mri-thoracic-spine")
SPINE_CT = ("imaging-ct-cervical-spine", "imaging-ct-thoracic-spine")
SPINE_XR = ("imaging-xr-cervical-spine", "imaging-xr-thoracic-spine")
SPINE_IMAGING = SPINE_XR + SPINE_CT + SPINE_MRI
SPINE_INJECTION = ("epidural-steroid-injection", "facet-injection", "radiofrequency-ablation")
MUSCLE_RELAXANTS = ("muscle-relaxants-beers", "baclofen", "tizanidine")

# Orders that by themselves put the context in scope. Spine surgery counts only when it is
# cervical or thoracic (the spine-surgery set also holds lumbar fusion, which is not this
# service's subject); every spine injection and manipulation code in the sets is spinal.
SPINE_SPECIFIC = SPINE_IMAGING + SPINE_INJECTION + (
    "cervical-spine-surgery",
    "thoracic-fusion",
    "spinal-manipulation",
)

# Orders the guideline speaks about: a card is about one of these, never about a statin.
PAIN_MANAGEMENT = SPINE_SPECIFIC + (
    "spine-surgery",
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


def order_reason_in_scope(facts: PatientFacts, order: DraftOrder) -> bool:
    """The order's reasonCode is in scope, or its reasonReference points to an in-scope Condition."""
    return order.reason_in_scope or bool(facts.scope_refs.intersection(order.reason_refs))


def in_scope(facts: PatientFacts, orders: tuple[DraftOrder, ...]) -> bool:
    """True when an active neck/upper-back pain condition, an order's reason, or a spine-specific order says so."""
    if facts.scope_conditions:
        return True
    return any(order_reason_in_scope(facts, o) or o.in_any(*SPINE_SPECIFIC) for o in orders)


def gated(facts: PatientFacts, orders: tuple[DraftOrder, ...]) -> tuple[DraftOrder, ...]:
    """The scope gate: the selected orders when the context is in scope for them, else none."""
    selected = tuple(o for o in orders if o.selected)
    return selected if selected and in_scope(facts, selected) else ()


def scoped_orders(facts: PatientFacts, orders: tuple[DraftOrder, ...]) -> tuple[DraftOrder, ...]:
    """The orders a card may be about: pain-management orders, or any order given for the pain."""
    return tuple(o for o in orders if o.in_any(*PAIN_MANAGEMENT) or order_reason_in_scope(facts, o))


def scope_undecided(facts: PatientFacts, orders: tuple[DraftOrder, ...]) -> bool:
    """Whether a shut gate may be shut only for want of the Conditions: they were not all read, and
    a selected order is one a card could be about (a pain-management order, or one whose reason
    points to a Condition) — an active neck-pain Condition not read could have opened the gate."""
    if facts.has(CONDITIONS):
        return False
    return any(o.selected and (o.in_any(*PAIN_MANAGEMENT) or o.reason_refs) for o in orders)
