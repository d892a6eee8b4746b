"""Red-flag data present but not understood is not absent: a systemic steroid whose dose cannot be
converted, a bacteremia or spinal infection the look-back window cannot place, a body temperature
that could be a fever but was not read. Each is an uncertain fact (the reassuring cards are
withheld and every card says so), never "no red flag"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.content.render import render_card, uncertain_counts
from cds_service.facts import PatientFacts
from cds_service.facts.build import build_facts
from cds_service.facts.model import (
    ACTIVE_BEFORE_WINDOW,
    DATA_KEYS,
    STEROID_DOSE,
    UNDATED,
    UNREAD_VALUE,
    UNREADABLE,
)
from cds_service.facts.record import select_record
from cds_service.rules.engine import evaluate
from tests import conftest as http
from tests.unit.rules_support import BASE_URL, content, facts, imaging, order, pain
from tests.unit.test_facts import ICD10, RXNORM, SNOMED, SUBJECT, TODAY, UCUM, ago, build, concept, condition, observation

NECK_PAIN = condition("M54.2", 10, "pain", display="Cervicalgia")


def uncertain(found: PatientFacts) -> list[tuple[str, str]]:
    return [(f.key, f.refs[0]) for f in found.uncertain]


def flags(found: PatientFacts) -> list[str]:
    return [f.kind for f in found.red_flags]


# --------------------------------------------------------------------------- systemic corticosteroids


def steroid(
    code: str,
    display: str,
    *,
    mg: float | None = None,
    per_day: int = 1,
    tablets: float | None = None,
    start_days: int | None = 200,
    text: str | None = None,
    status: str = "active",
    rtype: str = "MedicationStatement",
) -> dict[str, Any]:
    """An RxNorm-coded steroid on record: a dose in mg or tablets a day, or only text, or none; started ``start_days`` ago."""
    resource: dict[str, Any] = {
        "resourceType": rtype,
        "id": "st1",
        "status": status,
        "subject": SUBJECT,
        "medicationCodeableConcept": concept(code, RXNORM, display),
    }
    if rtype == "MedicationRequest":
        resource["intent"] = "order"
        if start_days is not None:
            resource["authoredOn"] = ago(start_days)
    elif start_days is not None:
        resource["effectivePeriod"] = {"start": ago(start_days)}
    dose = None
    if mg is not None:
        dose = {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}
    elif tablets is not None:
        dose = {"value": tablets, "unit": "tablet", "system": UCUM, "code": "{tbl}"}
    dosage: dict[str, Any] = {}
    if dose is not None:
        dosage = {"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}, "doseAndRate": [{"doseQuantity": dose}]}
    if text is not None:
        dosage["text"] = text
    if dosage:
        resource["dosageInstruction" if rtype == "MedicationRequest" else "dosage"] = [dosage]
    return resource


METHYLPREDNISOLONE_8 = ("197973", "methylprednisolone 8 MG Oral Tablet")
METHYLPREDNISOLONE_4 = ("259966", "methylprednisolone 4 MG Oral Tablet")
DEXAMETHASONE_4 = ("197582", "dexamethasone 4 MG Oral Tablet")
HYDROCORTISONE_10 = ("197782", "hydrocortisone 10 MG Oral Tablet")
PREDNISONE_20 = ("312615", "prednisone 20 MG Oral Tablet")
PREDNISONE_5 = ("312617", "predniSONE 5 MG Oral Tablet")


CHRONIC_PREDNISONE = {**steroid(*PREDNISONE_5, mg=7.5, start_days=400), "id": "pred"}
UNCONVERTIBLE = steroid(*METHYLPREDNISOLONE_8, mg=8)  # no prednisone equivalent for methylprednisolone in the content


@pytest.mark.parametrize(
    ("resources", "age", "doubted"),
    [
        ((UNCONVERTIBLE,), 70, True),
        ((steroid(*METHYLPREDNISOLONE_4, tablets=1, per_day=2),), 70, True),
        ((steroid(*DEXAMETHASONE_4, mg=4),), 70, True),
        ((steroid(*HYDROCORTISONE_10, tablets=2, rtype="MedicationRequest"),), 70, True),
        ((steroid(*PREDNISONE_20, text="20 mg by mouth daily"),), 70, True),  # the dose only in text
        ((steroid(*PREDNISONE_20),), 70, True),  # no dosage
        ((steroid(*PREDNISONE_5, mg=5, start_days=None),), 70, True),  # a chronic dose, but since when?
        ((steroid(*PREDNISONE_5, mg=2, start_days=400),), 70, False),  # below 2.5 mg/day
        ((steroid(*PREDNISONE_5, mg=2, start_days=None),), 70, False),  # below 2.5 mg/day, whenever it began
        ((steroid(*PREDNISONE_5, mg=5, start_days=30),), 70, False),  # not yet 90 days
        ((steroid(*METHYLPREDNISOLONE_8, mg=8, status="completed"),), 70, False),  # stopped
        ((steroid("1812088", "dexamethasone 1 MG/ML Ophthalmic Suspension", mg=0.1),), 70, False),  # eye drops
        ((UNCONVERTIBLE,), 60, False),  # certainly not over 65: no fracture-risk flag to doubt
        ((UNCONVERTIBLE, CHRONIC_PREDNISONE), 70, False),  # chronic prednisone: the flag stands anyway
    ],
    ids=[
        "methylprednisolone-mg",
        "methylprednisolone-tablets",
        "dexamethasone",
        "hydrocortisone-request",
        "prednisone-text-dose",
        "prednisone-no-dosage",
        "prednisone-no-start",
        "low-dose",
        "low-dose-undated",
        "short",
        "stopped",
        "ophthalmic",
        "age-60",
        "beside-chronic-prednisone",
    ],
)
def test_steroid_whose_dose_is_not_worked_out_is_uncertain(resources: tuple[dict[str, Any], ...], age: int, doubted: bool) -> None:
    """Past 65, an active systemic steroid whose prednisone-equivalent dose or start is not known is uncertain; a known short dose, a
    stopped steroid, eye drops, age 60 or chronic use already known are understood."""
    found = build(NECK_PAIN, *resources, age=age)
    assert uncertain(found) == ([(STEROID_DOSE, f"{resources[0]['resourceType']}/st1")] if doubted else [])
    assert flags(found) == (["fracture-risk"] if CHRONIC_PREDNISONE in resources else [])


# --------------------------------------------------------------------------- infections and the look-back window


OSTEOMYELITIS = ("M46.22", ICD10, "Osteomyelitis of vertebra, cervical region")
DISCITIS = ("302935008", SNOMED, "Infective discitis (disorder)")
BACTEREMIA = ("R78.81", ICD10, "Bacteremia")
MRSA_SEPSIS = ("A41.02", ICD10, "Sepsis due to Methicillin resistant Staphylococcus aureus")


def infection(code: tuple[str, str, str], days: int | None, status: str = "active", **extra: Any) -> dict[str, Any]:
    return condition(code[0], days, "inf", system=code[1], display=code[2], status=status, **extra)


@pytest.mark.parametrize(
    ("resource", "reason", "urgent"),
    [
        (infection(OSTEOMYELITIS, 120), ACTIVE_BEFORE_WINDOW, False),  # onset 120 days ago, still active
        (infection(DISCITIS, 200, status="recurrence"), ACTIVE_BEFORE_WINDOW, False),
        (infection(MRSA_SEPSIS, 100, status="relapse"), ACTIVE_BEFORE_WINDOW, False),
        (infection(BACTEREMIA, None), UNDATED, False),  # no onset, no recorded date
        (infection(BACTEREMIA, None, status="resolved"), UNDATED, False),  # resolved, but when?
        (infection(DISCITIS, -3), UNDATED, False),  # an onset after today
        (infection(OSTEOMYELITIS, 30), None, True),  # in the 90-day window: the urgent flag, as before
        (infection(DISCITIS, 30), None, True),
        (infection(BACTEREMIA, 30, status="resolved"), None, True),
        (infection(OSTEOMYELITIS, 120, status="resolved"), None, False),  # old and resolved: understood
        (infection(BACTEREMIA, 400, status="inactive"), None, False),
        ({**infection(BACTEREMIA, None), "verificationStatus": {"coding": [{"code": "entered-in-error"}]}}, None, False),
    ],
    ids=[
        "osteomyelitis-120d-active",
        "discitis-recurrence",
        "sepsis-relapse",
        "bacteremia-undated",
        "bacteremia-undated-resolved",
        "discitis-future",
        "osteomyelitis-30d",
        "discitis-30d",
        "bacteremia-30d-resolved",
        "osteomyelitis-120d-resolved",
        "bacteremia-400d-inactive",
        "entered-in-error",
    ],
)
def test_infection_the_window_cannot_place_is_uncertain(resource: dict[str, Any], reason: str | None, urgent: bool) -> None:
    """A bacteremia or spinal infection undated, dated after today, or dated earlier and still active is uncertain, not
    dropped; one dated in the window stays the urgent flag; one old and resolved, or void, is understood."""
    found = build(NECK_PAIN, resource)
    assert uncertain(found) == ([(reason, "Condition/inf")] if reason else [])
    assert flags(found) == (["infection"] if urgent else [])


# --------------------------------------------------------------------------- body temperatures

BODY_TEMPERATURE = "8310-5"


def temperature(value: Any = 39.4, unit: str = "Cel", days: int | None = 1, oid: str = "t1", **change: Any) -> dict[str, Any]:
    """A LOINC 8310-5 body temperature ``days`` ago (undated when None), with ``change`` applied to its JSON."""
    resource = observation(BODY_TEMPERATURE, value, unit, days if days is not None else 0, oid)
    if days is None:
        del resource["effectiveDateTime"]
    for name, new in change.items():
        if new is None:
            resource.pop(name, None)
        else:
            resource[name] = new
    return resource


FEBRILE = {"coding": [{"system": SNOMED, "code": "386661006", "display": "Fever"}], "text": "Febrile"}
STRING = {"valueQuantity": None, "valueString": "39.4 C"}


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (temperature(days=None), UNDATED),  # 39.4 °C with no effective date
        (temperature(102.2, "[degF]", days=None), UNDATED),
        (temperature(days=-1), UNDATED),  # dated tomorrow
        (temperature(**STRING), UNREAD_VALUE),
        (temperature(valueQuantity=None, valueCodeableConcept=FEBRILE), UNREAD_VALUE),
        (temperature(valueQuantity=None, valueInteger=39), UNREAD_VALUE),
        (temperature(valueQuantity={"unit": "Cel", "system": UCUM, "code": "Cel"}), UNREAD_VALUE),  # a unit, no number
        (temperature(days=None, valueQuantity=None, valueString="febrile"), UNREAD_VALUE),
        (temperature(effectiveDateTime="yesterday"), UNREADABLE),  # fails validation
        (temperature(valueQuantity={"value": "high", "unit": "Cel", "system": UCUM, "code": "Cel"}), UNREADABLE),
        (temperature(**STRING, status="entered-in-error"), None),  # void
        (temperature(**STRING, status="cancelled"), None),
        (temperature(36.8, effectiveDateTime="yesterday"), None),  # plainly below the fever line: passed over
        (temperature(36.8, days=None), None),
        (temperature(days=10), None),  # before the 7-day window
        (temperature(**STRING, days=30), None),
        (temperature(valueQuantity=None, dataAbsentReason={"coding": [{"code": "not-performed"}]}), None),  # no reading
    ],
    ids=[
        "undated",
        "undated-fahrenheit",
        "tomorrow",
        "value-string",
        "value-concept",
        "value-integer",
        "quantity-without-value",
        "undated-string",
        "date-text",
        "value-text",
        "entered-in-error",
        "cancelled",
        "normal-bad-date",
        "normal-undated",
        "old-fever",
        "old-string",
        "no-value",
    ],
)
def test_temperature_that_could_be_a_fever_but_was_not_understood_is_uncertain(resource: dict[str, Any], reason: str | None) -> None:
    """A body temperature in the fever window (or undated) whose value or date was not understood is uncertain, not absent; a
    void reading, one plainly below 38.0 °C, one before the window and one with no value are understood."""
    found = build(NECK_PAIN, resource)
    assert uncertain(found) == ([(reason, "Observation/t1")] if reason else [])
    assert found.fever is None and flags(found) == []


def test_normal_temperatures_are_not_validated_to_find_what_is_uncertain() -> None:
    """A month of plainly normal readings leaves nothing uncertain and builds no model; an unreadable one among them is found."""
    c = content()
    normal = [temperature(36.8, days=i % 30, oid=f"n{i}") for i in range(30)]
    record = select_record({"all": [NECK_PAIN, *normal]}, c.index, "p1")
    found = build_facts(record, c.terminology, c.facts.params, TODAY, frozenset(DATA_KEYS))
    assert found.uncertain == ()
    assert all("model" not in e._memo for e in record.candidates if e.ref.startswith("Observation/"))
    assert uncertain(build(NECK_PAIN, *normal, temperature(valueQuantity=None, valueString="39.4 C"))) == [(UNREAD_VALUE, "Observation/t1")]


# --------------------------------------------------------------------------- rules and cards


MRI = order("o1", "imaging-mri-cervical-spine", "imaging-mri-spine-without-contrast")
REASSURING = {"imaging-without-red-flags", "physical-therapy-first"}


@pytest.mark.parametrize(
    "resource",
    [steroid(*METHYLPREDNISOLONE_8, mg=8), infection(OSTEOMYELITIS, 120), temperature(valueQuantity=None, valueString="39.4 C")],
    ids=["steroid", "infection", "temperature"],
)
def test_each_new_uncertainty_withholds_the_reassuring_cards(resource: dict[str, Any]) -> None:
    """At 70, an unconvertible steroid, an active old infection or an unread temperature: no reassuring card; imaging-modality still fires."""
    found = build(NECK_PAIN, resource, age=70)
    patient = facts(pain=pain(7), uncertain=found.uncertain, imaging_history=(imaging("mri", "cervical", 20),))
    fired = {f.rule_id for f in evaluate(patient, (MRI,), content().rule_params)}
    assert not fired & REASSURING and "imaging-modality" in fired


def test_the_note_counts_observations() -> None:
    """An unread temperature and an undated bacteremia are said as "1 Condition(s), 1 observation(s)"."""
    found = build(NECK_PAIN, infection(BACTEREMIA, None), temperature(valueQuantity=None, valueString="39.4 C"))
    counts = uncertain_counts(found.uncertain)
    assert counts == {"conditions": 1, "medications": 0, "observations": 1, "age": 0}
    patient = facts(pain=pain(7), imaging_history=(imaging("mri", "cervical", 20),))
    finding = next(f for f in evaluate(patient, (MRI,), content().rule_params) if f.rule_id == "imaging-modality")
    detail = render_card(content(), finding, 50, BASE_URL, uncertain=counts).detail
    assert "Could not be read or recognised:** 1 Condition(s), 1 observation(s) — red flags cannot be excluded." in detail


# --------------------------------------------------------------------------- hook calls (the audit's records)

SELECT = "/cds-services/neck-pain-order-select"
HTTP_MRI = http.service_order("72141", "MRI cervical spine without contrast")
HTTP_XR = http.service_order("72040", "X-ray cervical spine 2-3 views")
PRIOR_MRI = http.procedure("72141", "MRI cervical spine without contrast", 20, "prior-mri")


def statement(code: str, display: str, dosage: list[dict[str, Any]] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": http.concept(http.RXNORM, code, display),
        "effectivePeriod": {"start": http.days_ago(200)},
    }
    if dosage is not None:
        resource["dosage"] = dosage
    return resource


def daily_mg(mg: float) -> list[dict[str, Any]]:
    return [
        {
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "system": http.UCUM, "code": "mg"}}],
        }
    ]


def http_condition(code: str, display: str, days: int | None) -> dict[str, Any]:
    resource = http.condition(code, display, days or 0, "rf")
    if days is None:
        del resource["onsetDateTime"]
    return resource


def http_temperature(**change: Any) -> dict[str, Any]:
    resource = http.observation(BODY_TEMPERATURE, "Body temperature", 39.4, "Cel", "t1", 1)
    for name, new in change.items():
        if new is None:
            resource.pop(name)
        else:
            resource[name] = new
    return resource


NORMAL_WEEK = tuple(http.observation(BODY_TEMPERATURE, "Body temperature", 36.9, "Cel", f"n{i}", i) for i in range(7))
CASES = {  # the audit's records and two understood ones: (patient age, resources, the note; None: understood, reassured)
    "F4a-methylprednisolone": (70, (statement("259966", "methylprednisolone 4 MG Oral Tablet", daily_mg(8)),), "1 medication(s)"),
    "F4b-dexamethasone": (70, (statement("197582", "dexamethasone 4 MG Oral Tablet", daily_mg(4)),), "1 medication(s)"),
    "F4c-prednisone-text-dose": (
        70,
        (statement("312615", "prednisone 20 MG Oral Tablet", [{"text": "20 mg by mouth daily"}]),),
        "1 medication(s)",
    ),
    "F6a-osteomyelitis-120d": (59, (http_condition("M46.22", "Osteomyelitis of vertebra, cervical region", 120),), "1 Condition(s)"),
    "F6b-bacteremia-undated": (59, (http_condition("R78.81", "Bacteremia", None),), "1 Condition(s)"),
    "F6c-temperature-undated": (59, (http_temperature(effectiveDateTime=None),), "1 observation(s)"),
    "F7a-temperature-string": (59, (http_temperature(valueQuantity=None, valueString="39.4 C"),), "1 observation(s)"),
    "F7b-temperature-concept": (59, (http_temperature(valueQuantity=None, valueCodeableConcept={"text": "Febrile"}),), "1 observation(s)"),
    "F7c-temperature-bad-date": (59, (http_temperature(effectiveDateTime="yesterday"),), "1 observation(s)"),
    "prednisone-2mg-understood": (70, (statement("312617", "predniSONE 5 MG Oral Tablet", daily_mg(2)),), None),
    "normal-week-understood": (59, NORMAL_WEEK, None),
}


def post(client: TestClient, age: int, *resources: dict[str, Any], orders: list[dict[str, Any]]) -> dict[str, Any]:
    body = http.hook_body([http.patient(age), http.condition("M54.2", "Cervicalgia", 7, "pain"), *resources], orders)
    response = client.post(SELECT, json=body)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", list(CASES))
def test_hook_call_reassures_only_on_what_it_understood(case: str, shared_client: TestClient) -> None:
    """The audit's records: no "No red flags" card and no rating for an MRI or X-ray, and a card that fires says what could not
    be read; a low prednisone dose or a normal week of temperatures is understood and still reassures, without the note."""
    age, resources, said = CASES[case]
    for order_ in (HTTP_MRI, HTTP_XR):
        response = post(shared_client, age, *resources, orders=[order_])
        if said is None:
            assert REASSURING <= set(http.topics(response)) and "Could not be read" not in json.dumps(response), case
        else:
            assert not REASSURING & set(http.topics(response)), case
            assert not response.get("systemActions"), case
    if said is not None:
        with_prior = post(shared_client, age, *resources, PRIOR_MRI, orders=[HTTP_MRI])
        modality = next(c for c in with_prior["cards"] if c["source"]["topic"]["code"] == "imaging-modality")
        assert f"Could not be read or recognised:** {said} — red flags cannot be excluded." in modality["detail"]
        assert "39.4 C" not in json.dumps(with_prior) and "Febrile" not in json.dumps(with_prior)
