"""The Synthea records under tests/data/realworld/synthea, the orders a clinician adds, and a plain reader of their facts.

``load_records`` reads each gzipped Bundle and makes its references what a FHIR server would serve
(``Patient/<id>`` instead of the Bundle's ``urn:uuid:`` links). ``scenario_resources`` adds a neck-pain
Condition (ICD-10-CM M54.2, or SNOMED CT 81680005 only, onset 10 days ago) and ``hook_body`` the draft
orders of a scenario. ``read_facts`` is the tests' own reader of the record — deliberately simple
(ages from birthDate, diagnoses by display words, drugs by ingredient name) and independent of the
service's fact code, so that the tests check the service against the record, not against itself.
"""

from __future__ import annotations

import gzip
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

SYNTHEA_DIR = Path(__file__).resolve().parents[1] / "data" / "realworld" / "synthea"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
SELECT = "neck-pain-order-select"
SIGN = "neck-pain-order-sign"
NECK_PAIN_ONSET_DAYS = 10

# What a ``urn:uuid:`` reference to a resource outside the Bundle points at, by the element holding it.
_TARGET_BY_ELEMENT = {"encounter": "Encounter", "requester": "Practitioner", "reasonReference": "Condition"}


@dataclass(frozen=True)
class Record:
    """One patient's record: its name (the file stem), Patient id and resources, Patient first."""

    name: str
    patient_id: str
    resources: tuple[dict[str, Any], ...]


def _relinked(value: Any, targets: dict[str, str], element: str = "") -> Any:
    """``value`` with every ``urn:uuid:`` reference made a relative ``Type/id`` reference."""
    if isinstance(value, list):
        return [_relinked(item, targets, element) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _relinked(item, targets, key) for key, item in value.items()}
    reference = out.get("reference")
    if isinstance(reference, str) and reference.startswith("urn:uuid:"):
        ident = reference.removeprefix("urn:uuid:")
        out["reference"] = f"{targets.get(ident) or _TARGET_BY_ELEMENT.get(element, 'Basic')}/{ident}"
    return out


def load_record(path: Path) -> Record:
    bundle = orjson.loads(gzip.decompress(path.read_bytes()))
    raw = [entry["resource"] for entry in bundle["entry"]]
    targets = {r["id"]: r["resourceType"] for r in raw}
    resources = tuple(_relinked(r, targets) for r in raw)
    assert resources[0]["resourceType"] == "Patient"
    return Record(path.name.removesuffix(".json.gz"), resources[0]["id"], resources)


def load_records(directory: Path = SYNTHEA_DIR) -> list[Record]:
    """Every record of the directory, sorted by name."""
    return [load_record(p) for p in sorted(directory.glob("*.json.gz"))]


# ---------------------------------------------------------------- the tests' own reader of a record

MALIGNANT_WORDS = ("malignant", "carcinoma", "lymphoma", "leukemia", "leukaemia", "myeloma", "metastatic", "sarcoma")
OPIOIDS = ("oxycodone", "hydrocodone", "morphine", "tramadol", "codeine", "hydromorphone", "tapentadol",
           "fentanyl", "meperidine", "methadone", "oxymorphone", "buprenorphine")
BENZODIAZEPINES = ("diazepam", "lorazepam", "alprazolam", "clonazepam", "temazepam", "chlordiazepoxide")
ANTICOAGULANTS = ("warfarin", "apixaban", "rivaroxaban", "dabigatran", "edoxaban", "enoxaparin", "heparin")
ANTIPLATELETS = ("clopidogrel", "aspirin", "prasugrel", "ticagrelor")
SYSTEMIC_STEROIDS = ("prednisone", "prednisolone", "methylprednisolone", "dexamethasone")
NSAIDS = ("ibuprofen", "naproxen", "celecoxib", "meloxicam", "diclofenac")
NONOPIOID_ANALGESICS = (*NSAIDS, "acetaminophen")
GABAPENTINOIDS = ("gabapentin", "pregabalin")
IMMUNOSUPPRESSANTS = ("azathioprine", "cyclosporine", "tacrolimus", "sirolimus", "everolimus", "mycophenol",
                      "methotrexate")
SPINE_WORDS = ("neck", "cervical", "thoracic", "spine", "spinal", "back", "whiplash", "spasm", "radicul",
               "myelopath", "spondyl", "vertebra")
MRI_WORDS = ("magnetic resonance", "mri")


def _text(concept: Any) -> str:
    """All the words of a CodeableConcept (text and every coding's display), lower-case."""
    if not isinstance(concept, dict):
        return ""
    parts = [concept.get("text") or ""] + [c.get("display") or "" for c in concept.get("coding") or []]
    return " ".join(parts).lower()


def _codes(concept: Any, system: str) -> list[str]:
    return [c.get("code", "") for c in (concept or {}).get("coding") or [] if c.get("system") == system]


def _status(resource: dict[str, Any], element: str) -> str:
    value = resource.get(element)
    if isinstance(value, dict):
        return str(((value.get("coding") or [{}])[0]).get("code", ""))
    return str(value or "")


def _recorded(resource: dict[str, Any]) -> bool:
    """Not refuted or entered in error."""
    return _status(resource, "verificationStatus") not in {"refuted", "entered-in-error"}


def _active_condition(resource: dict[str, Any]) -> bool:
    return _status(resource, "clinicalStatus") in {"active", "recurrence", "relapse"} and _recorded(resource)


def _words(text: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(n)}", text) for n in names)


def _when(resource: dict[str, Any]) -> date | None:
    for element in ("performedDateTime", "started", "authoredOn", "effectiveDateTime"):
        if isinstance(resource.get(element), str):
            return datetime.fromisoformat(resource[element].replace("Z", "+00:00")).date()
    period = resource.get("performedPeriod") or {}
    return datetime.fromisoformat(period["start"].replace("Z", "+00:00")).date() if "start" in period else None


@dataclass(frozen=True)
class Facts:
    """What the tests read from a record; each fact is the FHIR references that prove it (empty: not found)."""

    age: int
    malignancy: tuple[str, ...]
    heart_failure: tuple[str, ...]
    ckd_4_5: tuple[str, ...]
    peptic_ulcer: tuple[str, ...]
    osteoporosis: tuple[str, ...]
    spine_condition: tuple[str, ...]
    recent_mri: tuple[str, ...]
    opioid: tuple[str, ...]
    benzodiazepine: tuple[str, ...]
    anticoagulant: tuple[str, ...]
    antiplatelet: tuple[str, ...]
    systemic_steroid: tuple[str, ...]
    gabapentinoid: tuple[str, ...]
    immunosuppressant: tuple[str, ...]
    nonopioid_any: tuple[str, ...]  # an NSAID or acetaminophen on record, whatever its status
    nonopioid_alone_active: tuple[str, ...]  # an active NSAID or acetaminophen product with no opioid in it

    @property
    def nsaid_warning_risk(self) -> tuple[str, ...]:
        """The record facts that make an oral NSAID a warning (rules.md nsaid-risk)."""
        return (self.heart_failure + self.ckd_4_5 + self.peptic_ulcer + self.anticoagulant + self.antiplatelet
                + self.systemic_steroid)

    @property
    def fracture_risk(self) -> tuple[str, ...]:
        """Non-urgent red flags the reader can see: immunosuppressant drugs; osteoporosis at age > 65."""
        return self.immunosuppressant + (self.osteoporosis if self.age > 65 else ())


def whole_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def read_facts(record: Record, today: date | None = None) -> Facts:
    """The record's facts, read plainly from its resources."""
    today = today or date.today()
    patient = record.resources[0]
    conditions = [r for r in record.resources if r["resourceType"] == "Condition" and _recorded(r)]
    active = [r for r in conditions if _active_condition(r)]
    meds = [r for r in record.resources if r["resourceType"] in ("MedicationRequest", "MedicationStatement")]
    active_meds = [r for r in meds if r.get("status") == "active"]

    def with_words(resources: list[dict[str, Any]], names: tuple[str, ...], element: str = "code") -> tuple[str, ...]:
        return tuple(f"{r['resourceType']}/{r['id']}" for r in resources if _words(_text(r.get(element)), names))

    def malignant(r: dict[str, Any]) -> bool:
        text = _text(r.get("code"))
        icd = _codes(r.get("code"), ICD10)
        # Carcinoma in situ is not in the VSAC Cancer value sets: not a malignancy red flag.
        return (_words(text, MALIGNANT_WORDS) and "in situ" not in text) or any(
            c.startswith(("C", "Z85")) for c in icd
        )

    def med_words(names: tuple[str, ...], pool: list[dict[str, Any]] = active_meds) -> tuple[str, ...]:
        return with_words(pool, names, "medicationCodeableConcept")

    systemic = [r for r in active_meds
                if not _words(_text(r.get("medicationCodeableConcept")), ("topical", "ophthalmic", "inhal", "nasal"))]
    since = today - timedelta(days=30)
    imaging = [r for r in record.resources if r["resourceType"] in ("Procedure", "ImagingStudy", "ServiceRequest")]
    recent_mri = tuple(
        f"{r['resourceType']}/{r['id']}"
        for r in imaging
        if _words(_text(r.get("code")) + " " + str(r.get("description", "")).lower(), MRI_WORDS)
        and (_when(r) or today) >= since
    )
    alone = tuple(
        f"{r['resourceType']}/{r['id']}"
        for r in active_meds
        if _words(_text(r.get("medicationCodeableConcept")), NONOPIOID_ANALGESICS)
        and not _words(_text(r.get("medicationCodeableConcept")), OPIOIDS)
    )
    return Facts(
        age=whole_years(date.fromisoformat(patient["birthDate"]), today),
        malignancy=tuple(f"Condition/{r['id']}" for r in conditions if malignant(r)),
        heart_failure=with_words(active, ("heart failure",)),
        ckd_4_5=with_words(active, ("chronic kidney disease stage 4", "chronic kidney disease stage 5",
                                    "end stage renal", "end-stage renal", "dialysis")),
        peptic_ulcer=with_words(active, ("peptic ulcer", "gastric ulcer", "duodenal ulcer")),
        osteoporosis=with_words(active, ("osteoporosis",)),
        spine_condition=with_words(conditions, SPINE_WORDS),
        recent_mri=recent_mri,
        opioid=med_words(OPIOIDS),
        benzodiazepine=med_words(BENZODIAZEPINES),
        anticoagulant=med_words(ANTICOAGULANTS),
        antiplatelet=med_words(ANTIPLATELETS),
        systemic_steroid=med_words(SYSTEMIC_STEROIDS, systemic),
        gabapentinoid=med_words(GABAPENTINOIDS),
        immunosuppressant=med_words(IMMUNOSUPPRESSANTS),
        nonopioid_any=med_words(NONOPIOID_ANALGESICS, meds),
        nonopioid_alone_active=alone,
    )


# ---------------------------------------------------------------- what the clinician adds

NECK_PAIN = {
    "icd": {"system": ICD10, "code": "M54.2", "display": "Cervicalgia"},
    "snomed": {"system": SNOMED, "code": "81680005", "display": "Neck pain"},
}


def neck_pain(patient_id: str, coding: str, today: date | None = None) -> dict[str, Any]:
    """An active, confirmed neck-pain Condition with onset 10 days ago, coded ``coding`` only ("icd" or "snomed")."""
    onset = (today or date.today()) - timedelta(days=NECK_PAIN_ONSET_DAYS)
    code = NECK_PAIN[coding]
    return {
        "resourceType": "Condition",
        "id": f"{patient_id}-neck-pain",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                           "code": "confirmed"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "problem-list-item"}]}],
        "code": {"coding": [dict(code)], "text": code["display"]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "onsetDateTime": onset.isoformat(),
        "recordedDate": onset.isoformat(),
    }


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _medication(oid: str, patient_id: str, rxcui: str, display: str, days: int, per_day: int) -> dict[str, Any]:
    """A draft oral MedicationRequest: one tablet ``per_day`` times a day for ``days`` days, no refills."""
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": _concept(RXNORM, rxcui, display),
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": UCUM, "code": "{tbl}"}}],
        }],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": 0,
            "quantity": {"value": days * per_day, "unit": "tablet", "system": UCUM, "code": "{tbl}"},
            "expectedSupplyDuration": {"value": days, "unit": "days", "system": UCUM, "code": "d"},
        },
    }


# RxNorm product codes checked against cds_service/terminology/data/rxnorm-products.tsv.
def mri_cervical(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": "rw-order-mri-cervical",
        "status": "draft",
        "intent": "order",
        "code": _concept(CPT, "72141", "Magnetic resonance imaging, spinal canal and contents, cervical; without "
                                       "contrast material"),
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def cyclobenzaprine(patient_id: str) -> dict[str, Any]:
    return _medication("rw-order-cyclobenzaprine", patient_id, "828320",
                       "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", days=7, per_day=3)


def ibuprofen(patient_id: str) -> dict[str, Any]:
    return _medication("rw-order-ibuprofen", patient_id, "197806", "Ibuprofen 600 MG Oral Tablet", days=7, per_day=3)


def oxycodone(patient_id: str) -> dict[str, Any]:
    return _medication("rw-order-oxycodone", patient_id, "1049621", "Oxycodone Hydrochloride 5 MG Oral Tablet",
                       days=5, per_day=4)


ORDER_SETS = {
    "mri": (SELECT, (mri_cervical,)),
    "relaxant-nsaid": (SELECT, (cyclobenzaprine, ibuprofen)),
    "opioid": (SIGN, (oxycodone,)),
    "medications": (SIGN, (cyclobenzaprine, ibuprofen, oxycodone)),
}


@dataclass(frozen=True)
class Scenario:
    """A neck-pain coding ("icd", "snomed", or None for no neck pain on record) and an order set."""

    neck_pain: str | None
    orders: str

    @property
    def id(self) -> str:
        return f"{self.neck_pain or 'no-neck-pain'}-{self.orders}"

    @property
    def service(self) -> str:
        return ORDER_SETS[self.orders][0]


SCENARIOS = tuple(Scenario(coding, orders) for coding in ("icd", "snomed") for orders in ORDER_SETS) + (
    Scenario(None, "relaxant-nsaid"),
)


def scenario_resources(record: Record, scenario: Scenario, today: date | None = None) -> list[dict[str, Any]]:
    """The record as the EHR holds it when the orders are written: with the scenario's neck-pain Condition."""
    added = [neck_pain(record.patient_id, scenario.neck_pain, today)] if scenario.neck_pain else []
    return [*record.resources, *added]


def draft_orders(record: Record, scenario: Scenario) -> list[dict[str, Any]]:
    return [make(record.patient_id) for make in ORDER_SETS[scenario.orders][1]]


def hook_body(record: Record, scenario: Scenario) -> dict[str, Any]:
    """The scenario's hook request without prefetch (order-select selects every draft order)."""
    orders = draft_orders(record, scenario)
    hook = "order-select" if scenario.service == SELECT else "order-sign"
    context: dict[str, Any] = {
        "userId": "Practitioner/example",
        "patientId": record.patient_id,
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]},
    }
    if hook == "order-select":
        context["selections"] = [f"{o['resourceType']}/{o['id']}" for o in orders]
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
