"""The same clinical content, coded the way other EHRs send it: HL7 OIDs, contained Medications, SNOMED CT conditions.

Each function returns a re-coded deep copy of a JSON value (a hook request with its prefetch, or
one resource); nothing else changes, so a vignette re-coded must get the cards of the original.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
MEDICATION_ELEMENT = "medicationCodeableConcept"
CONTAINED_MEDICATION_ID = "med"
SNOMED_MAP_FILE = Path(__file__).resolve().parents[1] / "data" / "recoding" / "icd10cm-to-snomed.json"

# The HL7 OIDs of the code systems the service reads (HL7 v3 code-system OIDs).
OIDS = {
    ICD10CM: "urn:oid:2.16.840.1.113883.6.90",
    SNOMED: "urn:oid:2.16.840.1.113883.6.96",
    "http://www.ama-assn.org/go/cpt": "urn:oid:2.16.840.1.113883.6.12",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "urn:oid:2.16.840.1.113883.6.88",
    "http://loinc.org": "urn:oid:2.16.840.1.113883.6.1",
    "http://www.cms.gov/Medicare/Coding/ICD10": "urn:oid:2.16.840.1.113883.6.4",
}
ICD10CM_SYSTEMS = {ICD10CM, OIDS[ICD10CM]}


def medication_concept(resource: dict[str, Any]) -> dict[str, Any]:
    """A MedicationRequest's or MedicationStatement's medication: its CodeableConcept, or its contained Medication's code."""
    if MEDICATION_ELEMENT in resource:
        return dict(resource[MEDICATION_ELEMENT])
    target = resource["medicationReference"]["reference"].removeprefix("#")
    medication = next(r for r in resource.get("contained", []) if r.get("id") == target)
    return dict(medication["code"])


def _walk(value: Any, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """``value`` with ``change`` applied to every JSON object, innermost first."""
    if isinstance(value, list):
        return [_walk(item, change) for item in value]
    if isinstance(value, dict):
        return change({key: _walk(item, change) for key, item in value.items()})
    return value


def with_oids(value: Any) -> Any:
    """Every Coding's system replaced by its HL7 OID (ICD-10-CM/PCS, SNOMED CT, CPT, RxNorm, LOINC)."""

    def change(obj: dict[str, Any]) -> dict[str, Any]:
        if isinstance(obj.get("system"), str) and obj["system"] in OIDS and "code" in obj:
            return {**obj, "system": OIDS[obj["system"]]}
        return obj

    return _walk(copy.deepcopy(value), change)


def with_contained_medications(value: Any) -> Any:
    """Every MedicationRequest/MedicationStatement's medication moved into a contained Medication it references."""

    def change(obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("resourceType") not in ("MedicationRequest", "MedicationStatement") or MEDICATION_ELEMENT not in obj:
            return obj
        concept = obj[MEDICATION_ELEMENT]
        medication = {"resourceType": "Medication", "id": CONTAINED_MEDICATION_ID, "code": concept}
        out: dict[str, Any] = {}
        for key, item in obj.items():
            if key == MEDICATION_ELEMENT:
                reference = {"reference": f"#{CONTAINED_MEDICATION_ID}"}
                out["medicationReference"] = {**reference, "display": concept["text"]} if concept.get("text") else reference
            else:
                out[key] = item
        out["contained"] = [*obj.get("contained", []), medication]
        return out

    return _walk(copy.deepcopy(value), change)


def snomed_map(path: Path = SNOMED_MAP_FILE) -> dict[str, tuple[str, str]]:
    """ICD-10-CM code → (SNOMED CT code, display), from the verified map in tests/data/recoding."""
    return {m["icd10cm"]: (m["snomed"], m["snomedDisplay"]) for m in orjson.loads(path.read_bytes())["map"]}


def with_snomed_conditions(value: Any, mapping: dict[str, tuple[str, str]]) -> Any:
    """Every CodeableConcept whose codings are all mapped ICD-10-CM codes re-coded in SNOMED CT only (text = display)."""

    def change(obj: dict[str, Any]) -> dict[str, Any]:
        codings = obj.get("coding")
        if not isinstance(codings, list) or not codings:
            return obj
        if not all(c.get("system") in ICD10CM_SYSTEMS and c.get("code") in mapping for c in codings):
            return obj
        recoded = [{"system": SNOMED, "code": mapping[c["code"]][0], "display": mapping[c["code"]][1]} for c in codings]
        out = {**obj, "coding": recoded}
        if "text" in obj:
            out["text"] = recoded[0]["display"]
        return out

    return _walk(copy.deepcopy(value), change)


def icd10cm_codes(value: Any) -> set[str]:
    """Every ICD-10-CM code (by URL or OID) anywhere in a JSON value."""
    found: set[str] = set()

    def change(obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("system") in ICD10CM_SYSTEMS and isinstance(obj.get("code"), str):
            found.add(obj["code"])
        return obj

    _walk(value, change)
    return found
