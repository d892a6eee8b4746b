"""FHIR actions for suggestions: resources an EHR can apply in one click (valid R4)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.rules.base import ActionSpec

SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"

PT_REFERRAL_CODE = {"system": SNOMED, "code": "91251008", "display": "Physical therapy procedure"}
MRI_CERVICAL_WITH_CONTRAST = {
    "system": CPT,
    "code": "72156",
    "display": "MRI cervical spine without contrast, followed by contrast and further sequences",
}
ESR = {"system": LOINC, "code": "4537-7", "display": "Erythrocyte sedimentation rate by Westergren method"}
CRP = {"system": LOINC, "code": "1988-5", "display": "C reactive protein [Mass/volume] in Serum or Plasma"}


def remove(orders: Iterable[DraftOrder]) -> tuple[ActionSpec, ...]:
    """Delete each draft order by reference."""
    return tuple(ActionSpec("remove-order", "delete", resource_id=o.ref, data={"order": o.display}) for o in orders)


def service_request(facts: PatientFacts, coding: dict[str, str], reason_refs: Iterable[str] = ()) -> dict[str, Any]:
    """A draft ServiceRequest for the patient (draft status: the clinician signs it)."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(uuid.uuid4()),
        "status": "draft",
        "intent": "order",
        "code": {"coding": [coding], "text": coding["display"]},
        "subject": {"reference": facts.patient_ref or "Patient/unknown"},
        "authoredOn": facts.today.isoformat(),
    }
    refs = [{"reference": r} for r in reason_refs if r.startswith("Condition/")]
    if refs:
        resource["reasonReference"] = refs
    return resource


def pt_referral(facts: PatientFacts) -> ActionSpec:
    reasons = facts.pain.refs if facts.pain is not None else ()
    return ActionSpec("pt-referral", "create", resource=service_request(facts, PT_REFERRAL_CODE, reasons))


def create(key: str, facts: PatientFacts, coding: dict[str, str]) -> ActionSpec:
    reasons = facts.pain.refs if facts.pain is not None else ()
    return ActionSpec(key, "create", resource=service_request(facts, coding, reasons))


def limit_duration(order: DraftOrder, days: int, today: date) -> ActionSpec:
    """The MedicationRequest with its supply cut to ``days`` days and no refills."""
    resource = copy.deepcopy(order.resource)
    dispense = resource.setdefault("dispenseRequest", {})
    dispense["expectedSupplyDuration"] = {"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}
    dispense["numberOfRepeatsAllowed"] = 0
    dispense.pop("quantity", None)
    if isinstance(resource.get("category"), dict):
        resource["category"] = [resource["category"]]
    return ActionSpec("limit-duration", "update", resource=resource, data={"order": order.display, "days": days})
