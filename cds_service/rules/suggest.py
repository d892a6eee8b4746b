"""FHIR actions for suggestions: resources an EHR can apply in one click (valid R4)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.ids import random_uuid
from cds_service.pama import APPROPRIATE, with_rating
from cds_service.rules.base import ActionSpec
from cds_service.terminology.systems import CPT, LOINC, RXNORM, SNOMED, UCUM

# What an order swapped for another keeps: who, for whom, why, and its draft state.
SWAP_KEPT = ("resourceType", "id", "status", "intent", "subject", "encounter", "requester", "reasonCode", "reasonReference", "authoredOn")
PT_REFERRAL_CODE = {"system": SNOMED, "code": "91251008", "display": "Physical therapy procedure"}
MRI_CERVICAL_WITH_CONTRAST = {
    "system": CPT,
    "code": "72156",
    "display": "MRI cervical spine without contrast, followed by contrast and further sequences",
}
MRI_THORACIC_WITH_CONTRAST = {
    "system": CPT,
    "code": "72157",
    "display": "MRI thoracic spine without contrast, followed by contrast and further sequences",
}
ESI_IMAGE_GUIDED = {
    "system": CPT,
    "code": "62321",
    "display": "Injection, interlaminar epidural, cervical or thoracic; with imaging guidance",
}
# Alternatives to an oral NSAID: RxNorm products of the bundled table (terminology/data/rxnorm-products.tsv).
DICLOFENAC_GEL = {"system": RXNORM, "code": "855633", "display": "Diclofenac Sodium 0.01 MG/MG Topical Gel"}
ACETAMINOPHEN_500 = {"system": RXNORM, "code": "198440", "display": "Acetaminophen 500 MG Oral Tablet"}
ESR = {"system": LOINC, "code": "4537-7", "display": "Erythrocyte sedimentation rate by Westergren method"}
CRP = {"system": LOINC, "code": "1988-5", "display": "C reactive protein [Mass/volume] in Serum or Plasma"}


def remove(orders: Iterable[DraftOrder]) -> tuple[ActionSpec, ...]:
    """Delete each draft order by reference."""
    return tuple(ActionSpec("remove-order", "delete", resource_id=o.ref, data={"order": o.display}) for o in orders)


def service_request(
    facts: PatientFacts,
    coding: dict[str, str] | None,
    reason_refs: Iterable[str] = (),
    *,
    text: str | None = None,
    priority: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A draft ServiceRequest for the patient (draft status: the clinician signs it).

    ``coding`` may be None for a request named by ``text`` only (valid R4: code is a CodeableConcept).
    """
    code: dict[str, Any] = {"text": text or (coding or {}).get("display") or "Service request"}
    if coding is not None:
        code["coding"] = [coding]
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": random_uuid(),
        "status": "draft",
        "intent": "order",
        "code": code,
        "subject": {"reference": facts.patient_ref or "Patient/unknown"},
        "authoredOn": facts.today.isoformat(),
    }
    if priority:
        resource["priority"] = priority  # routine | urgent | asap | stat
    refs = [{"reference": r} for r in reason_refs if r.startswith("Condition/")]
    if refs:
        resource["reasonReference"] = refs
    if note:
        resource["note"] = [{"text": note}]
    return resource


def _pain_refs(facts: PatientFacts) -> tuple[str, ...]:
    return facts.pain.refs if facts.pain is not None else ()


def pt_referral(facts: PatientFacts, note: str | None = None) -> ActionSpec:
    """Create a physical therapy referral (SNOMED 91251008) for the pain on record."""
    resource = service_request(facts, PT_REFERRAL_CODE, _pain_refs(facts), note=note)
    return ActionSpec("pt-referral", "create", resource=resource)


def swap_for_pt(order: DraftOrder, facts: PatientFacts) -> ActionSpec:
    """Replace a draft imaging order by a physical therapy referral under the same id (an update the
    EHR applies in place), rated appropriate: the guideline's first step instead of the study."""
    resource = {k: v for k, v in order.resource.items() if k in SWAP_KEPT}
    resource["code"] = {"coding": [PT_REFERRAL_CODE], "text": PT_REFERRAL_CODE["display"]}
    resource.setdefault("subject", {"reference": facts.patient_ref or "Patient/unknown"})
    return ActionSpec("swap-order", "update", resource=with_rating(resource, APPROPRIATE), data={"order": order.display})


def create(key: str, facts: PatientFacts, coding: dict[str, str], priority: str | None = None) -> ActionSpec:
    """Create a coded ServiceRequest for the pain on record."""
    return ActionSpec(key, "create", resource=service_request(facts, coding, _pain_refs(facts), priority=priority))


def create_text(key: str, facts: PatientFacts, text: str) -> ActionSpec:
    """Create a ServiceRequest named by text only (no verified code exists for it)."""
    return ActionSpec(key, "create", resource=service_request(facts, None, _pain_refs(facts), text=text))


def medication_request(key: str, facts: PatientFacts, coding: dict[str, str]) -> ActionSpec:
    """Create a draft MedicationRequest for a product; the prescriber completes dose and supply."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": random_uuid(),
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [coding], "text": coding["display"]},
        "subject": {"reference": facts.patient_ref or "Patient/unknown"},
        "authoredOn": facts.today.isoformat(),
    }
    refs = [{"reference": r} for r in _pain_refs(facts) if r.startswith("Condition/")]
    if refs:
        resource["reasonReference"] = refs
    return ActionSpec(key, "create", resource=resource, data={"order": coding["display"]})


# A course length in dosage text: "for 30 days", "x 4 weeks", "× 10 d".
_COURSE = re.compile(r"\b(for|x|×)\s*\d+(\.\d+)?\s*(days?|d|weeks?|wks?|months?|mos?)\b", re.IGNORECASE)


def _course_text(text: Any, days: int) -> Any:
    """``text`` with every stated course length replaced by ``days`` days (non-text unchanged)."""
    return _COURSE.sub(lambda m: f"{m.group(1)} {days} days", text) if isinstance(text, str) else text


def limit_duration(order: DraftOrder, days: int, today: date) -> ActionSpec:
    """The MedicationRequest with its supply cut to ``days`` days and no refills, every field that
    states the course saying the same: dosage and patient instruction texts, timing bounds (a dose
    count, which would outlast or cut short the new course, gives way to the bound)."""
    resource = copy.deepcopy(order.resource)
    if not isinstance(resource.get("dispenseRequest"), dict):  # none, or a shape validation repaired away
        resource["dispenseRequest"] = {}
    dispense = resource["dispenseRequest"]
    dispense["expectedSupplyDuration"] = {"value": days, "unit": "days", "system": UCUM, "code": "d"}
    dispense["numberOfRepeatsAllowed"] = 0
    dispense.pop("quantity", None)
    dosages = resource.get("dosageInstruction")
    for dosage in dosages if isinstance(dosages, list) else []:  # a longer bound would contradict the supply
        if not isinstance(dosage, dict):
            continue
        for key in ("text", "patientInstruction"):
            if key in dosage:
                dosage[key] = _course_text(dosage[key], days)
        timing = dosage.get("timing")  # the draft as sent: a part validation repaired may be any JSON
        repeat = timing.get("repeat") if isinstance(timing, dict) else None
        if isinstance(repeat, dict) and any(k in repeat for k in ("boundsDuration", "boundsPeriod", "count", "countMax")):
            for key in ("boundsPeriod", "boundsRange", "count", "countMax"):
                repeat.pop(key, None)
            repeat["boundsDuration"] = dict(dispense["expectedSupplyDuration"])
    if "note" in resource and isinstance(resource["note"], list):
        for note in resource["note"]:
            if isinstance(note, dict) and "text" in note:
                note["text"] = _course_text(note["text"], days)
    if isinstance(resource.get("category"), dict):
        resource["category"] = [resource["category"]]
    return ActionSpec("limit-duration", "update", resource=resource, data={"order": order.display, "days": days})
