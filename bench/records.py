"""Deterministic synthetic hook requests for the benchmark: an older patient with neck pain.

    python -m bench.records --size 150 > typical.json

A record of ``size`` resources (besides the Patient) mixes conditions, procedures, medication
requests and statements, observations, service requests and imaging studies the way a primary
care chart does: most entries are everyday chronic care that no value set lists (diabetes,
statins, HbA1c, blood pressure), about one in six is in a value set the rules read (resolved
neck-pain episodes, eGFR and temperature results, NSAIDs, past PT and spine X-rays). The current
neck pain began 12 days ago, there is no red flag, and the draft order is a cervical-spine MRI,
so the scope gate opens and the imaging and physical-therapy rules answer with cards.

The same ``size`` and ``today`` always give the same request (seeded by ``size``).
"""

from __future__ import annotations

import argparse
import random
import sys
import uuid
from datetime import date, timedelta
from typing import Any

import orjson

from cds_service.fixtures import prefetch_for

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
PATIENT_ID = "bench-patient"

# (snomed, icd, display, active?) — the first block is in no value set, the second is.
CONDITIONS_OTHER = [
    ("44054006", "E11.9", "Type 2 diabetes mellitus without complications", True),
    ("59621000", "I10", "Essential hypertension", True),
    ("55822004", "E78.5", "Hyperlipidemia, unspecified", True),
    ("235595009", "K21.9", "Gastro-esophageal reflux disease without esophagitis", True),
    ("40930008", "E03.9", "Hypothyroidism, unspecified", True),
    ("239873007", "M17.11", "Unilateral primary osteoarthritis, right knee", True),
    ("414916001", "E66.9", "Obesity, unspecified", True),
    ("195967001", "J45.909", "Unspecified asthma, uncomplicated", True),
    ("61582004", "J30.9", "Allergic rhinitis, unspecified", True),
    ("266569009", "N40.0", "Benign prostatic hyperplasia", True),
    ("193462001", "G47.00", "Insomnia, unspecified", True),
    ("10509002", "J20.9", "Acute bronchitis, unspecified", False),
    ("68566005", "N39.0", "Urinary tract infection, site not specified", False),
    ("34713006", "E55.9", "Vitamin D deficiency, unspecified", True),
    ("37796009", "G43.909", "Migraine, unspecified", False),
    ("193570009", "H26.9", "Unspecified cataract", True),
    ("90560007", "M10.9", "Gout, unspecified", True),
    ("271737000", "D64.9", "Anemia, unspecified", False),
]
CONDITIONS_IN_SETS = [
    ("279069000", "M54.2", "Cervicalgia", False),
    ("161891005", "M54.6", "Pain in thoracic spine", False),
    ("84114007", "I50.9", "Heart failure, unspecified", True),
    ("217082002", "Z91.81", "History of falling", True),
]
# (system, code, display) procedures
PROCEDURES_OTHER = [
    (CPT, "45378", "Colonoscopy, diagnostic"),
    (CPT, "93000", "Electrocardiogram, routine, with interpretation"),
    (CPT, "66984", "Extracapsular cataract removal with intraocular lens"),
    (CPT, "20610", "Arthrocentesis, major joint"),
    (CPT, "93306", "Transthoracic echocardiography, complete"),
    (CPT, "77067", "Screening mammography, bilateral"),
    (SCT, "86198006", "Influenza vaccination"),
    (SCT, "171207006", "Depression screening"),
]
PROCEDURES_IN_SETS = [(CPT, "97110", "Therapeutic exercises"), (CPT, "72040", "X-ray cervical spine, 2 or 3 views")]
# (rxcui, display, mg per dose, doses per day)
MEDS_OTHER = [
    ("860975", "Metformin hydrochloride 500 MG Oral Tablet", 500, 2),
    ("314076", "Lisinopril 10 MG Oral Tablet", 10, 1),
    ("617310", "Atorvastatin 20 MG Oral Tablet", 20, 1),
    ("966247", "Levothyroxine sodium 0.075 MG Oral Tablet", 0.075, 1),
    ("197361", "Amlodipine 5 MG Oral Tablet", 5, 1),
    ("310798", "Hydrochlorothiazide 25 MG Oral Tablet", 25, 1),
    ("866514", "Metoprolol tartrate 50 MG Oral Tablet", 50, 2),
    ("745752", "Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", 0.09, 4),
    ("863669", "Tamsulosin hydrochloride 0.4 MG Oral Capsule", 0.4, 1),
    ("979492", "Losartan potassium 50 MG Oral Tablet", 50, 1),
]
MEDS_IN_SETS = [
    ("197806", "Ibuprofen 600 MG Oral Tablet", 600, 3),
    ("313782", "Acetaminophen 325 MG Oral Tablet", 650, 3),
]
# (loinc, display, value, unit)
OBSERVATIONS_OTHER = [
    ("8867-4", "Heart rate", 72, "/min"),
    ("29463-7", "Body weight", 84.0, "kg"),
    ("39156-5", "Body mass index", 29.1, "kg/m2"),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", 7.1, "%"),
    ("13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", 104, "mg/dL"),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", 1.1, "mg/dL"),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", 4.3, "mmol/L"),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", 13.2, "g/dL"),
]
OBSERVATIONS_IN_SETS = [
    ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula (MDRD)", 68, "mL/min/{1.73_m2}"),
    ("8310-5", "Body temperature", 36.8, "Cel"),
]
SERVICE_REQUESTS = [(LOINC, "4548-4", "Hemoglobin A1c panel", False), (SCT, "183519002", "Referral to cardiology service", False),
                    (CPT, "97161", "Physical therapy evaluation, low complexity", True)]
IMAGING = [(CPT, "71046", "X-ray chest, 2 views", False), (CPT, "72040", "X-ray cervical spine, 2 or 3 views", True)]

# Share of each resource type in a record; one resource in six drawn from value-set codes.
MIX = [("Condition", 0.28), ("Procedure", 0.14), ("MedicationRequest", 0.16), ("MedicationStatement", 0.05),
       ("Observation", 0.30), ("ServiceRequest", 0.05), ("ImagingStudy", 0.02)]
IN_SET_SHARE = 1 / 6


class _Maker:
    def __init__(self, size: int, today: date) -> None:
        self.rng = random.Random(size)
        self.today = today
        self.serial = 0

    def days_ago(self, low: int, high: int) -> str:
        return (self.today - timedelta(days=self.rng.randint(low, high))).isoformat()

    def base(self, resource_type: str) -> dict[str, Any]:
        self.serial += 1
        return {
            "resourceType": resource_type,
            "id": f"{resource_type[:3].lower()}-{self.serial}",
            "meta": {"lastUpdated": f"{self.days_ago(1, 3000)}T10:15:00Z"},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
        }

    def pick(self, other: list[Any], in_sets: list[Any]) -> tuple[Any, bool]:
        inside = self.rng.random() < IN_SET_SHARE
        return self.rng.choice(in_sets if inside else other), inside

    def condition(self) -> dict[str, Any]:
        (sct, icd, display, active), _ = self.pick(CONDITIONS_OTHER, CONDITIONS_IN_SETS)
        r = self.base("Condition")
        status = "active" if active else "resolved"
        r["clinicalStatus"] = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", status)
        r["verificationStatus"] = concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")
        r["category"] = [concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")]
        r["code"] = {"coding": [{"system": SCT, "code": sct}, {"system": ICD, "code": icd, "display": display}], "text": display}
        r["onsetDateTime"] = self.days_ago(200, 6000)
        if not active:
            r["abatementDateTime"] = self.days_ago(30, 190)
        r["recordedDate"] = r["onsetDateTime"]
        return r

    def procedure(self) -> dict[str, Any]:
        (system, code, display), _ = self.pick(PROCEDURES_OTHER, PROCEDURES_IN_SETS)
        r = self.base("Procedure")
        r["status"] = "completed"
        r["code"] = {"coding": [{"system": system, "code": code, "display": display}], "text": display}
        r["performedDateTime"] = f"{self.days_ago(400, 5000)}T09:30:00Z"
        return r

    def medication(self, resource_type: str) -> dict[str, Any]:
        (rxcui, display, mg, per_day), inside = self.pick(MEDS_OTHER, MEDS_IN_SETS)
        r = self.base(resource_type)
        r["status"] = "completed" if inside else self.rng.choice(["active", "completed", "stopped"])
        r["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": rxcui, "display": display}], "text": display}
        when = self.days_ago(120, 3000)
        dose = {"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": UCUM, "code": "{tbl}"}}]}
        if resource_type == "MedicationRequest":
            r["intent"] = "order"
            r["authoredOn"] = when
            r["dosageInstruction"] = [dose]
            r["dispenseRequest"] = {"numberOfRepeatsAllowed": 1,
                                    "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"}}
        else:
            r["effectivePeriod"] = {"start": when, "end": self.days_ago(100, 119) if inside else when}
            r["dateAsserted"] = when
            r["dosage"] = [dose]
        return r

    def observation(self) -> dict[str, Any]:
        (code, display, value, unit), _ = self.pick(OBSERVATIONS_OTHER, OBSERVATIONS_IN_SETS)
        r = self.base("Observation")
        r["status"] = "final"
        category = "laboratory" if code not in ("8867-4", "29463-7", "39156-5", "8310-5") else "vital-signs"
        r["category"] = [concept("http://terminology.hl7.org/CodeSystem/observation-category", category)]
        r["code"] = {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}
        r["effectiveDateTime"] = f"{self.days_ago(20, 2000)}T08:00:00Z"
        r["valueQuantity"] = {"value": round(value * self.rng.uniform(0.9, 1.1), 1), "unit": unit, "system": UCUM, "code": unit}
        return r

    def service_request(self) -> dict[str, Any]:
        (system, code, display, inside), _ = self.pick(SERVICE_REQUESTS[:2], SERVICE_REQUESTS[2:])
        r = self.base("ServiceRequest")
        r.update(status="completed", intent="order", authoredOn=self.days_ago(400, 3000))
        r["code"] = {"coding": [{"system": system, "code": code, "display": display}], "text": display}
        return r

    def imaging_study(self) -> dict[str, Any]:
        (system, code, display, _), _ = self.pick(IMAGING[:1], IMAGING[1:])
        r = self.base("ImagingStudy")
        r.update(status="available", started=f"{self.days_ago(400, 4000)}T11:00:00Z", numberOfSeries=1, numberOfInstances=2)
        r["procedureCode"] = [{"coding": [{"system": system, "code": code, "display": display}], "text": display}]
        return r

    def make(self, resource_type: str) -> dict[str, Any]:
        if resource_type in ("MedicationRequest", "MedicationStatement"):
            return self.medication(resource_type)
        return {"Condition": self.condition, "Procedure": self.procedure, "Observation": self.observation,
                "ServiceRequest": self.service_request, "ImagingStudy": self.imaging_study}[resource_type]()


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def record(size: int, today: date | None = None) -> list[dict[str, Any]]:
    """The Patient, the current neck-pain Condition and ``size - 1`` more resources, deterministic."""
    maker = _Maker(size, today or date.today())
    born = maker.today.replace(year=maker.today.year - 68) - timedelta(days=40)
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female", "birthDate": born.isoformat(),
               "name": [{"family": "Bench", "given": ["Synthetic"]}]}
    pain = maker.base("Condition")
    pain["clinicalStatus"] = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
    pain["code"] = {"coding": [{"system": ICD, "code": "M54.2", "display": "Cervicalgia"}], "text": "Neck pain"}
    pain["onsetDateTime"] = (maker.today - timedelta(days=12)).isoformat()
    resources = [patient, pain]
    for resource_type, share in MIX:
        resources += [maker.make(resource_type) for _ in range(round((size - 1) * share))]
    while len(resources) < size + 1:
        resources.append(maker.make("Condition"))
    return resources[: size + 1]


def mri_order() -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest", "id": "draft-mri", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"coding": [{"system": CPT, "code": "72141", "display": "MRI cervical spine without contrast"}],
                 "text": "MRI cervical spine without contrast"},
        "reasonCode": [{"coding": [{"system": ICD, "code": "M54.2", "display": "Cervicalgia"}]}],
    }


def hook_request(size: int, today: date | None = None) -> dict[str, Any]:
    """An order-select request for a cervical MRI with the record's complete prefetch."""
    order = mri_order()
    return {
        "hook": "order-select",
        "hookInstance": str(uuid.UUID(int=size)),
        "context": {
            "userId": "Practitioner/bench",
            "patientId": PATIENT_ID,
            "selections": ["ServiceRequest/draft-mri"],
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]},
        },
        "prefetch": prefetch_for(record(size, today)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=150, help="resources besides the Patient")
    args = parser.parse_args()
    sys.stdout.buffer.write(orjson.dumps(hook_request(args.size)))


if __name__ == "__main__":
    main()
