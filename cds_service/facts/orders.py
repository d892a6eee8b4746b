"""Draft orders from the hook context → ``DraftOrder``, classified by value set.

Draft orders are validated leniently like the record: an order that cannot be read is skipped
and logged (the Sandbox sends an empty draft the moment an order tab opens). An entry with no
resource, a resource with no or an unknown ``resourceType``, and an order whose ``id`` is not a FHIR
id (cards name the order by it: a delete action's ``resourceId``) are skipped before any rule sees
them, and counted in one WARNING per call by field path (``skipped draft orders``), never by value. A MedicationRequest
naming its drug by ``medicationReference`` is classified by the Medication it resolves to
(facts/medrefs.py); one that does not resolve stays an order, named by the reference's display
(classified by drug name) or the reference itself, with no medication made up for it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

from cds_service.facts.codes import CodeIndex, Coding, raw_codings, raw_text
from cds_service.facts.medications import to_medication
from cds_service.facts.medrefs import NO_MEDICATIONS, MedicationIndex, drug_concept
from cds_service.facts.model import SCOPE_SET, DraftOrder
from cds_service.fhir.parse import is_fhir_id, parse_resource, resource_class

log = logging.getLogger(__name__)

ORDER_TYPES = ("MedicationRequest", "ServiceRequest", "NutritionOrder", "VisionPrescription", "DeviceRequest")


# The order, its drug's ingredients and codings (None: an unresolved medicationReference with no display).
Screened = tuple[DraftOrder, frozenset[str], list[Coding] | None]


def screen(
    entries: Iterable[Any], selections: Iterable[str] | None, index: CodeIndex, medications: MedicationIndex = NO_MEDICATIONS
) -> list[Screened]:
    """Each coded draft order read from its JSON (not validated), with its drug's ingredients and
    codings, each marked selected (all of them when there are no selections); ``medicationReference``s
    resolve to contained Medications or those in ``medications``.

    Every order ``validated_orders`` keeps is among these, alike but for ``medication``, so when these
    cannot open the scope gate the validated ones cannot either: a call about other orders (most
    calls) needs no draft validated at all.
    """
    selected = set(selections) if selections is not None else None
    orders = []
    skipped: Counter[str] = Counter()
    for entry in entries:
        raw = entry.get("resource") if isinstance(entry, dict) else None
        unreadable = _unreadable(raw)
        if unreadable is not None:
            skipped[unreadable] += 1
            continue
        found = _classified(raw, selected, index, medications)
        if found is not None:
            orders.append(found)
    if skipped:
        log.warning("skipped draft orders", extra={"skipped": dict(skipped)})
    return orders


DRAFT = "context.draftOrders.entry"


def _unreadable(raw: Any) -> str | None:
    """The field path of what makes a draft-orders entry unreadable: no resource object, a
    ``resourceType`` that names no FHIR resource type, an order whose ``id`` is no FHIR id; None when readable."""
    if type(raw) is not dict:
        return f"{DRAFT}.resource"
    resource_type = raw.get("resourceType")
    if resource_class(resource_type) is None:
        return f"{DRAFT}.resource.resourceType"
    if resource_type in ORDER_TYPES and not is_fhir_id(raw.get("id")):
        return f"{DRAFT}.resource.id"
    return None


def validated_orders(screened: Iterable[Screened], index: CodeIndex) -> tuple[DraftOrder, ...]:
    """The screened orders whose resources validate, each with its ``medication``."""
    orders = (_validated(*item, index) for item in screened)
    return tuple(order for order in orders if order is not None)


def _classified(raw: Any, selected: set[str] | None, index: CodeIndex, medications: MedicationIndex) -> Screened | None:
    """The order read from its JSON, and its drug's ingredients and codings; None when it is no coded order."""
    if not isinstance(raw, dict) or raw.get("resourceType") not in ORDER_TYPES or not raw.get("id"):
        return None
    resource_type = raw["resourceType"]
    ref = f"{resource_type}/{raw['id']}"
    is_medication = resource_type == "MedicationRequest"
    unresolved = None
    if is_medication:
        concept, unresolved = drug_concept(raw, medications)
    else:
        concept = raw.get("code")
    codings, text = raw_codings(concept), raw_text(concept).strip()
    if not codings and not text and unresolved is None:
        return None
    ingredients: frozenset[str] = frozenset()
    if is_medication:
        ingredients, valuesets = index.of_medication(codings, text)
    else:
        valuesets = index.of_codings(codings)
    reasons = raw.get("reasonCode")
    reason_in_scope = SCOPE_SET in index.of_codings(raw_codings(reasons)) if reasons else False
    reason_refs = tuple(
        r["reference"] for r in raw.get("reasonReference") or [] if isinstance(r, dict) and isinstance(r.get("reference"), str)
    )
    order = DraftOrder(
        ref=ref,
        resource_type=resource_type,
        display=text or unresolved or ref,
        valuesets=valuesets,
        selected=selected is None or ref in selected,
        text=(text + " " + raw_text(raw.get("note")) if raw.get("note") else text).lower(),
        reason_in_scope=reason_in_scope,
        reason_refs=reason_refs,
        named=frozenset() if valuesets or is_medication else index.concept_names_facts(concept),
        resource=raw,
    )
    return order, ingredients, (codings if codings or text else None)


def _validated(
    order: DraftOrder, ingredients: frozenset[str], codings: list[Coding] | None, index: CodeIndex
) -> DraftOrder | None:
    """The order once its whole resource validates (a rule may send it back updated), with the
    ``Medication`` it orders (none when nothing names its drug); None (logged) when it does not."""
    model = parse_resource(order.resource, (order.resource_type,), None, {})
    if model is None:
        return None
    if order.resource_type != "MedicationRequest" or codings is None:
        return order
    medication = to_medication(index.terminology, order.ref, order.display, model, ingredients, order.valuesets, codings)
    return dataclasses.replace(order, medication=medication)
