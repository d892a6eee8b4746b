"""Appropriateness ratings of spine imaging orders (Argonaut CDS Hooks for PAMA).

Every cervical or thoracic spine imaging order a call evaluates is rated from the rules' own
conclusions, and the rating goes back as an ``update`` of the draft ServiceRequest carrying the
``pama-rating`` and ``pama-rating-consult-id`` extensions:

- ``not-appropriate``: the card ``imaging-without-red-flags`` is shown for the order (that rule is
  withheld on uncertain records and runs only when every part of the record that could show a red
  flag was read, so this never rests on data the service could not read);
- ``appropriate``: the record positively shows a red flag, radiculopathy, myelopathy or a cervical
  fusion (positive evidence: what was read shows it), and no card says the study is the wrong one;
- ``no-criteria-apply``: the record was wholly read and understood and none of the guideline's
  imaging criteria applies (e.g. pain past the early window with physical therapy on record); an entry
  that could be a cervical fusion or PT but was not understood (``cervical_fusion_doubt``,
  ``physical_therapy_doubt``, a draft order whose text names PT), or a condition that could be
  radiculopathy or myelopathy but was not understood, or one whose stated onset was not (``*_doubt``
  facts), leaves that unknown;
- no rating: the order is named by ``imaging-modality`` alone (the card says which study instead), the
  imaging rule is off or in shadow mode (its conclusion is not the service's advice), or the record could not be wholly read or understood
  (missing data keys, ``facts.uncertain``) with no positive evidence — uncertainty never becomes
  "no criteria apply", which an EHR could read as clearance.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cds_service.content.loader import ContentSet
from cds_service.facts import DraftOrder, PatientFacts
from cds_service.facts.model import SERVICE_REQUESTS
from cds_service.protocol.models import Card
from cds_service.pama import APPROPRIATE, CONSULT_URL, NO_CRITERIA, NOT_APPROPRIATE, RATING_URL, with_rating
from cds_service.rules.base import Finding
from cds_service.rules.imaging import RED_FLAG_DATA
from cds_service.rules.physical_therapy import pt_in_doubt
from cds_service.rules.scope import SPINE_IMAGING, gated


IMAGING_RULE = "imaging-without-red-flags"
MODALITY_RULE = "imaging-modality"
# Everything that could show a red flag, and the physical therapy record.
RATED_DATA = RED_FLAG_DATA + (SERVICE_REQUESTS,)


@dataclass(frozen=True)
class Rating:
    """The rating of one spine imaging order; ``value`` None when it could not be rated."""

    order: DraftOrder
    value: str | None


def consult_id(hook_instance: object) -> str:
    """The decision-support session id of a call: derived from its hookInstance, so a resent call keeps it."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'cds-rating:{hook_instance}')}"


def rate(
    facts: PatientFacts, orders: Iterable[DraftOrder], findings: Iterable[Finding], imaging_rule_on: bool
) -> list[Rating]:
    """The rating of each spine imaging order the call evaluates (module docstring)."""
    orders = tuple(orders)
    imaging = [o for o in gated(facts, orders) if o.in_any(*SPINE_IMAGING)]
    if not imaging:
        return []
    named: dict[str, set[str]] = {}
    for found in findings:
        named.setdefault(found.rule_id, set()).update(o.ref for o in found.orders)
    positive = bool(facts.red_flags or facts.radiculopathy or facts.myelopathy or facts.cervical_fusion)
    understood = facts.has(*RATED_DATA) and not facts.uncertain
    # A fusion or PT that could be on record or planned, not understood: whether a criterion applies is not known.
    understood = understood and not (facts.cervical_fusion_doubt or pt_in_doubt(facts, orders))
    # a condition that could be radiculopathy or myelopathy, or whose onset was not understood: not "no criteria"
    understood = understood and not (facts.radiculopathy_doubt or facts.myelopathy_doubt or facts.pain_doubt)
    ratings = []
    for order in imaging:
        value: str | None = None
        if order.ref in named.get(IMAGING_RULE, ()):
            value = NOT_APPROPRIATE if imaging_rule_on else None
        elif order.ref in named.get(MODALITY_RULE, ()):
            value = None
        elif positive:
            value = APPROPRIATE
        elif understood and imaging_rule_on:
            value = NO_CRITERIA
        ratings.append(Rating(order, value))
    return ratings


def rate_call(
    content: ContentSet, facts: PatientFacts, orders: tuple[DraftOrder, ...], findings: Iterable[Finding], hook_instance: object
) -> tuple[tuple[Rating, ...], list[dict[str, Any]], str | None]:
    """A call's ratings, their system actions (none when no spine imaging order was evaluated) and
    the session id the actions carry (None without actions)."""
    if not orders:
        return (), [], None
    rule = content.rules.get(IMAGING_RULE)
    active = rule is not None and rule.content.mode == "active" and IMAGING_RULE in content.rule_params
    ratings = tuple(rate(facts, orders, findings, active))
    if all(r.value is None for r in ratings):  # no action: no session id to derive
        return ratings, [], None
    consult = consult_id(hook_instance)
    return ratings, system_actions(ratings, consult, content.layout.rating_action), consult


def system_actions(ratings: Iterable[Rating], consult: str, description: str) -> list[dict[str, Any]]:
    """One ``update`` per rated order: the draft ServiceRequest with its rating and session id."""
    return [
        {
            "type": "update",
            "description": description.format(rating=r.value, order=r.order.display),
            "resource": with_rating(r.order.resource, r.value, consult),
        }
        for r in ratings
        if r.value is not None
    ]


def stamp_consult(cards: Iterable[Card], consult: str) -> None:
    """Give every rated resource a suggestion carries (an alternative order) the call's session id."""
    for card in cards:
        for suggestion in card.suggestions or ():
            for action in suggestion.actions or ():
                resource = action.resource
                if not resource:
                    continue
                extensions = resource.get("extension") or []
                if any(e.get("url") == RATING_URL for e in extensions) and not any(e.get("url") == CONSULT_URL for e in extensions):
                    extensions.append({"url": CONSULT_URL, "valueUri": consult})
