"""The benchmark's bodies: the kinds of hook request EHRs send, not one chosen record.

    python -m bench.field            # list the bodies: hook, resources, size

Each body is a list of calls (service id, request JSON) posted in turn; most are one call, the
repeat body is an order-select and the order-sign that follows it for the same patient. The bodies:

* ``sandbox-rx``: the CDS Hooks Sandbox's order-select (Rx View) request, 2 KB, answered from its
  prefetch only (``fhirServer`` removed, so nothing is queried).
* ``vitals-150``: 150 resources of a 78-year-old with neck pain, 30 body temperatures of the last
  month, 30 medication orders, and a cyclobenzaprine order (order-select).
* ``synthea-*``: real Synthea records (``tests/data/realworld/synthea``) with a neck-pain Condition
  added, the prefetch filled from the service's own discovery templates the way an EHR does
  (``tests/ehr.py``): the median, 90th-percentile and largest record by prefetch size, with an NSAID,
  an opioid (order-sign), a muscle relaxant or an MRI.
* ``synthea-p90-select-sign``: that 90th-percentile patient's order-select and then order-sign of
  cyclobenzaprine and ibuprofen, alternating: the same record arrives twice.
* ``typical-150``, ``heavy-1000``: the synthetic record of ``bench/records.py`` (cervical MRI).
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

import orjson

from bench.records import CONDITIONS_OTHER, LOINC, MEDS_OTHER, UCUM, _Maker, concept, hook_request
from bench.servers import REPO
from cds_service.content.store import ContentStore
from cds_service.fixtures import prefetch_for
from cds_service.protocol.services import SERVICES_BY_ID
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.ehr import prefetch_from_templates
from tests.realworld import records as synthea

SELECT, SIGN = synthea.SELECT, synthea.SIGN
VITALS_PATIENT = "bench-vitals"
SANDBOX_REQUEST = REPO / "tests" / "data" / "sandbox-requests" / "order-select-rx.json"


@dataclass(frozen=True)
class Body:
    """One benchmark body: the calls posted in turn, and what the table says about it."""

    name: str
    calls: tuple[tuple[str, bytes], ...]  # (service id, request JSON with MARK after each resource id)
    resources: int  # resources in one call's prefetch (the largest call's)
    what: str

    @property
    def kb(self) -> float:
        return max(len(raw.replace(MARK, b"")) for _, raw in self.calls) / 1024


MARK = b"\x01"  # never in JSON text: control characters are escaped inside strings


def resource_ids(request: dict[str, Any]) -> set[str]:
    """The ids of the request's resources: the prefetch's (Bundle entries included) and the draft orders'."""
    found = []
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict):
            found += [e.get("resource") or {} for e in value.get("entry") or []] if value.get("resourceType") == "Bundle" else [value]
    found += [e.get("resource") or {} for e in request["context"].get("draftOrders", {}).get("entry") or []]
    return {r["id"] for r in found if isinstance(r.get("id"), str)} | {request["context"]["patientId"]}


def marked(request: dict[str, Any]) -> bytes:
    """The request's JSON with ``MARK`` after every resource id and every reference to one: a suffix
    put there gives a new patient with the same record (``bench/post.lua``)."""
    ids = sorted(resource_ids(request), key=len, reverse=True)
    pattern = re.compile(rb'(?<=["/#])(' + b"|".join(re.escape(i.encode()) for i in ids) + rb')(?=")')
    return pattern.sub(lambda m: m.group(1) + MARK, orjson.dumps(request))


def varied(raw: bytes, suffix: str) -> bytes:
    """A marked body with ``suffix`` at every mark, as ``bench/post.lua`` sends it."""
    return raw.replace(MARK, suffix.encode())


def prefetch_resources(request: dict[str, Any]) -> int:
    """Resources in a request's prefetch: each read resource and each Bundle entry."""
    count = 0
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict):
            count += len(value.get("entry") or []) if value.get("resourceType") == "Bundle" else 1
    return count


def one(name: str, service: str, request: dict[str, Any], what: str) -> Body:
    return Body(name, ((service, marked(request)),), prefetch_resources(request), what)


def sandbox() -> Body:
    request = orjson.loads(SANDBOX_REQUEST.read_bytes())
    request.pop("fhirServer", None)  # answer from its prefetch only: no network in the load test
    request.pop("fhirAuthorization", None)
    return one("sandbox-rx", SELECT, request, "Sandbox order-select (Rx View)")


def vitals_record(size: int = 150, today: date | None = None) -> list[dict[str, Any]]:
    """A 78-year-old's record: neck pain, 30 body temperatures of the last month, 30 medication orders."""
    maker = _Maker(size, today or date.today())
    rng = random.Random(78)
    born = maker.today.replace(year=maker.today.year - 78) - timedelta(days=100)
    patient = {"resourceType": "Patient", "id": VITALS_PATIENT, "gender": "male", "birthDate": born.isoformat()}
    pain = maker.base("Condition")
    pain["clinicalStatus"] = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
    pain["code"] = {"coding": [{"system": synthea.ICD10, "code": "M54.2", "display": "Cervicalgia"}], "text": "Neck pain"}
    pain["onsetDateTime"] = (maker.today - timedelta(days=12)).isoformat()
    resources = [patient, pain]
    for day in range(30):
        r = maker.base("Observation")
        r["status"] = "final"
        r["category"] = [concept("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")]
        r["code"] = {"coding": [{"system": LOINC, "code": "8310-5", "display": "Body temperature"}], "text": "Body temperature"}
        r["effectiveDateTime"] = f"{(maker.today - timedelta(days=day)).isoformat()}T07:30:00Z"
        r["valueQuantity"] = {"value": round(rng.uniform(36.4, 37.3), 1), "unit": "Cel", "system": UCUM, "code": "Cel"}
        resources.append(r)
    for i in range(30):
        rxcui, display, _, per_day = MEDS_OTHER[i % len(MEDS_OTHER)]
        r = maker.base("MedicationRequest")
        r.update(status="active", intent="order", authoredOn=maker.days_ago(20, 900))
        r["medicationCodeableConcept"] = {"coding": [{"system": synthea.RXNORM, "code": rxcui, "display": display}],
                                          "text": display}
        r["dosageInstruction"] = [{"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}}]
        resources.append(r)
    kinds = ("Condition", "Procedure", "Observation", "ServiceRequest")
    while len(resources) < size + 1:
        made = maker.make(kinds[len(resources) % len(kinds)])
        if made["resourceType"] == "Condition":  # chronic problems only: no red flag, no earlier neck pain
            sct, icd, display, _ = CONDITIONS_OTHER[len(resources) % len(CONDITIONS_OTHER)]
            made["code"] = {"coding": [{"system": synthea.SNOMED, "code": sct}, {"system": synthea.ICD10, "code": icd,
                                                                                 "display": display}], "text": display}
        made["subject"] = {"reference": f"Patient/{patient['id']}"}
        resources.append(made)
    return resources


def vitals() -> Body:
    resources = vitals_record()
    request = drafted(SELECT, VITALS_PATIENT, [synthea.cyclobenzaprine(VITALS_PATIENT)])
    request["prefetch"] = prefetch_for(resources)  # the whole record, as bench/records.py sends it
    return one("vitals-150", SELECT, request, "78 y, 30 temperatures of the last month, 30 medication orders; cyclobenzaprine")


def drafted(service: str, patient_id: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
    """A hook request for ``orders`` (all selected, for order-select), without prefetch."""
    context: dict[str, Any] = {
        "userId": "Practitioner/bench",
        "patientId": patient_id,
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]},
    }
    hook = SERVICES_BY_ID[service].hook
    if hook == "order-select":
        context["selections"] = [f"{o['resourceType']}/{o['id']}" for o in orders]
    return {"hook": hook, "hookInstance": str(uuid.UUID(int=len(orders) * 7 + len(patient_id))), "context": context}


@cache
def templates() -> dict[str, dict[str, str]]:
    """Each service's prefetch templates, as discovery publishes them."""
    index = ContentStore(BUNDLED_CONTENT_DIR).current.index
    return {service_id: s.prefetch_templates(index) for service_id, s in SERVICES_BY_ID.items()}


def synthea_request(rec: synthea.Record, service: str, makers: tuple[Any, ...]) -> dict[str, Any]:
    """``rec`` with a neck-pain Condition (ICD-10-CM), the prefetch an EHR fills from the templates."""
    resources = [*rec.resources, synthea.neck_pain(rec.patient_id, "icd")]
    request = drafted(service, rec.patient_id, [make(rec.patient_id) for make in makers])
    request["prefetch"] = prefetch_from_templates(templates()[service], rec.patient_id, resources)
    return request


@cache
def synthea_picks() -> dict[str, synthea.Record]:
    """The median, 90th-percentile and largest Synthea record by order-select prefetch size (bytes)."""
    sized = sorted((len(orjson.dumps(synthea_request(r, SELECT, (synthea.mri_cervical,)))), r.name, r)
                   for r in synthea.load_records())
    sizes = [s for s, _, _ in sized]
    median = statistics.median_low(sizes)
    p90 = sizes[min(len(sizes) - 1, round(0.9 * (len(sizes) - 1)))]
    pick = {size: r for size, _, r in sized}
    return {"median": pick[median], "p90": pick[p90], "largest": sized[-1][2]}


def bodies() -> list[Body]:
    """Every body of the suite, in table order."""
    picks = synthea_picks()
    median, p90, largest = picks["median"], picks["p90"], picks["largest"]
    relaxant_nsaid = (synthea.cyclobenzaprine, synthea.ibuprofen)
    select, sign = synthea_request(p90, SELECT, relaxant_nsaid), synthea_request(p90, SIGN, relaxant_nsaid)
    repeat = Body("synthea-p90-select-sign", ((SELECT, marked(select)), (SIGN, marked(sign))),
                  max(prefetch_resources(select), prefetch_resources(sign)),
                  "the 90th-percentile record: order-select, then order-sign, cyclobenzaprine + ibuprofen")
    return [
        sandbox(),
        vitals(),
        one("synthea-median-nsaid", SELECT, synthea_request(median, SELECT, (synthea.ibuprofen,)),
            "median Synthea prefetch; ibuprofen"),
        one("synthea-median-opioid", SIGN, synthea_request(median, SIGN, (synthea.oxycodone,)),
            "median Synthea prefetch; oxycodone, order-sign"),
        one("synthea-p90-relaxant", SELECT, synthea_request(p90, SELECT, (synthea.cyclobenzaprine,)),
            "90th-percentile Synthea prefetch; cyclobenzaprine"),
        repeat,
        one("synthea-largest-mri", SELECT, synthea_request(largest, SELECT, (synthea.mri_cervical,)),
            "largest Synthea prefetch; cervical MRI"),
        one("typical-150", SELECT, hook_request(150), "bench/records.py, 68 y; cervical MRI"),
        one("heavy-1000", SELECT, hook_request(1000), "bench/records.py, 1,000 resources; cervical MRI"),
    ]


def suite(names: list[str] | tuple[str, ...] = ()) -> list[Body]:
    """The suite's bodies named, in table order (all of them when none is); an unknown name stops
    with the list of names."""
    every = bodies()
    unknown = set(names) - {b.name for b in every}
    if unknown:
        raise SystemExit(f"no body {', '.join(sorted(unknown))} in the suite: {', '.join(b.name for b in every)}")
    return [b for b in every if not names or b.name in names]


def main() -> None:
    for body in bodies():
        services = " + ".join(s.removeprefix("neck-pain-") for s, _ in body.calls)
        sys.stdout.write(f"{body.name:<24} {services:<24} {body.resources:>5} resources {body.kb:>6.0f} KB  {body.what}\n")


if __name__ == "__main__":
    main()
