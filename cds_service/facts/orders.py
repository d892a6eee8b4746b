"""Draft orders from the hook context → ``DraftOrder``, classified by value set.

Draft orders are validated leniently like the record: an order that cannot be read is skipped
and logged (the Sandbox sends an empty draft the moment an order tab opens).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cds_service.facts.codes import CodeIndex, raw_codings, raw_text
from cds_service.facts.medications import to_medication
from cds_service.facts.model import DraftOrder
from cds_service.fhir.parse import parse_resource

ORDER_TYPES = ("MedicationRequest", "ServiceRequest", "NutritionOrder", "VisionPrescription", "DeviceRequest")
SCOPE_SET = "neck-upper-back-pain"


def build_orders(
    entries: Iterable[Any], selections: Iterable[str] | None, index: CodeIndex
) -> tuple[DraftOrder, ...]:
    """The draft orders, each marked selected (all of them when there are no selections)."""
    selected = set(selections) if selections is not None else None
    orders = []
    for entry in entries:
        raw = entry.get("resource") if isinstance(entry, dict) else None
        order = _order(raw, selected, index)
        if order is not None:
            orders.append(order)
    return tuple(orders)


def _order(raw: Any, selected: set[str] | None, index: CodeIndex) -> DraftOrder | None:
    if not isinstance(raw, dict) or raw.get("resourceType") not in ORDER_TYPES or not raw.get("id"):
        return None
    resource_type = raw["resourceType"]
    ref = f"{resource_type}/{raw['id']}"
    is_medication = resource_type == "MedicationRequest"
    concept = raw.get("medicationCodeableConcept" if is_medication else "code")
    codings, text = raw_codings(concept), raw_text(concept).strip()
    if not codings and not text:
        return None
    model = parse_resource(raw, (resource_type,))
    if model is None:
        return None
    medication = None
    if is_medication:
        ingredients, valuesets = index.of_medication(codings, text)
        medication = to_medication(index.terminology, ref, text or ref, model, ingredients, valuesets)
    else:
        valuesets = index.of_codings(codings)
    reasons = raw.get("reasonCode")
    reason_in_scope = SCOPE_SET in index.of_codings(raw_codings(reasons)) if reasons else False
    reason_refs = tuple(
        r["reference"] for r in raw.get("reasonReference") or [] if isinstance(r, dict) and isinstance(r.get("reference"), str)
    )
    return DraftOrder(
        ref=ref,
        resource_type=resource_type,
        display=text or ref,
        valuesets=valuesets,
        selected=selected is None or ref in selected,
        text=(text + " " + raw_text(raw.get("note")) if raw.get("note") else text).lower(),
        reason_in_scope=reason_in_scope,
        reason_refs=reason_refs,
        medication=medication,
        resource=raw,
    )
