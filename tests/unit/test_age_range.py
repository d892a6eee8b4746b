"""The age from a full or partial birth date (FHIR ``date``: YYYY, YYYY-MM, YYYY-MM-DD) as the range of
possible whole-year ages; rules decide when every possible age falls on one side of their line and stay
silent when it does not."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.facts import AgeRange, PatientFacts
from cds_service.facts.build import build_facts
from cds_service.facts.dates import ages_on
from cds_service.facts.model import AGE_UNKNOWN, DATA_KEYS
from cds_service.facts.record import select_record
from cds_service.rules.base import Finding
from tests import conftest as http
from tests.unit.rules_support import (
    BACLOFEN_10,
    CYCLOBENZAPRINE_5,
    CYCLOBENZAPRINE_10,
    DIAZEPAM_5,
    DULOXETINE_30,
    GABAPENTIN_300,
    IBUPROFEN_600,
    OXYCODONE_5,
    card,
    card_json,
    content,
    egfr,
    facts,
    keys,
    med_condition,
    med_facts,
    med_order,
    med_run,
    order,
    pain,
    run,
)
from tests.unit.test_facts import SNOMED, TODAY, condition

# TODAY (tests/unit/rules_support.py) is 2026-03-15.
FALLS = med_condition("falls", "f1", "History of falling")
RADICULOPATHY = med_condition("radiculopathy", "r1", "Cervical radiculopathy")
ACDF = ("spine-surgery", "cervical-spine-surgery", "cervical-fusion")


# --------------------------------------------------------------------------- the range


@pytest.mark.parametrize(
    ("born", "ages"),
    [
        (date(1956, 3, 15), (70, 70)),  # a full date: one age (birthday today)
        (date(1956, 3, 16), (69, 69)),
        ("1956", (69, 70)),  # born some day of 1956: 69 until the birthday, 70 after
        ("1956-01", (70, 70)),  # every day of January 1956 is a birthday already past
        ("1956-03", (69, 70)),  # March 1956: the 15th has passed, the 16th has not
        ("1956-04", (69, 69)),
        ("2026", (0, 0)),  # born this year, on or before today
        ("2026-03", (0, 0)),
        ("2027", None),  # wholly after today
        (date(2026, 3, 16), None),
        (None, None),
        ("1956-13", None),
        ("unknown", None),
    ],
)
def test_ages_of_a_birth_date(born: Any, ages: tuple[int, int] | None) -> None:
    """Every whole-year age a full or partial birth date allows on 2026-03-15; None when it gives none."""
    assert ages_on(born, TODAY) == ages


@pytest.mark.parametrize(
    ("age", "years", "at_least", "over"),
    [
        (AgeRange(70, 70), 65, True, True),
        (AgeRange(69, 70), 65, True, True),
        (AgeRange(64, 65), 65, None, False),  # at least 65: maybe; over 65: no
        (AgeRange(65, 66), 65, True, None),  # at least 65: yes; over 65: maybe
        (AgeRange(66, 67), 65, True, True),
        (AgeRange(60, 61), 65, False, False),
        (AgeRange(), 65, None, None),
    ],
)
def test_age_range_answers_only_what_every_age_answers(age: AgeRange, years: int, at_least: bool | None, over: bool | None) -> None:
    """at_least and over are True or False when every possible age agrees, None when unknown or split."""
    assert age.at_least(years) is at_least
    assert age.over(years) is over


def test_the_age_is_shown_as_years_or_a_range() -> None:
    """An exact age shows as its number, a range as "69–70", an unknown age as nothing."""
    assert [AgeRange.exact(70).shown, AgeRange(69, 70).shown, AgeRange().shown] == [70, "69–70", None]


def patient_born(birth_date: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    if birth_date is not None:
        resource["birthDate"] = birth_date
    return resource


def build(birth_date: str | None, *resources: dict[str, Any]) -> PatientFacts:
    c = content()
    record = select_record({"all": [patient_born(birth_date), *resources]}, c.index, "p1")
    return build_facts(record, c.terminology, c.facts.params, TODAY, frozenset(DATA_KEYS))


@pytest.mark.parametrize(
    ("birth_date", "age"),
    [("1956-03-15", AgeRange(70, 70)), ("1956", AgeRange(69, 70)), ("1956-01", AgeRange(70, 70)), (None, AgeRange())],
)
def test_patient_facts_read_partial_birth_dates(birth_date: str | None, age: AgeRange) -> None:
    """A Patient's birthDate of a year or a month gives the range of its ages; no birthDate, an unknown age."""
    assert build(birth_date).age == age


# --------------------------------------------------------------------------- the fracture-risk flag

OSTEOPOROSIS = condition("M81.0", 400, "op", display="Age-related osteoporosis without current pathological fracture")
SNOMED_OSTEOPOROSIS = condition("64859006", 400, "op", system=SNOMED, display="Osteoporosis")
LONG_TERM_STEROID = condition("Z79.52", 400, "z", display="Long term (current) use of systemic steroids")


@pytest.mark.parametrize("risk", [OSTEOPOROSIS, SNOMED_OSTEOPOROSIS, LONG_TERM_STEROID])
@pytest.mark.parametrize(
    ("birth_date", "flagged", "unknown"),
    [
        ("1956", True, False),  # 69-70: over 65 either way
        ("1959", True, False),  # 66-67
        ("1960", False, True),  # 65-66: over 65 or not
        ("1960-03", False, True),  # 65 until the birthday in March, then 66
        ("1960-02", True, False),  # 66
        ("1961", False, False),  # 64-65: not over 65 either way
        (None, False, True),
    ],
)
def test_fracture_risk_with_a_partial_or_missing_birth_date(
    risk: dict[str, Any], birth_date: str | None, flagged: bool, unknown: bool
) -> None:
    """Osteoporosis (ICD-10-CM, SNOMED) or long-term steroid use: a flag when every possible age is over 65, uncertain when the age cannot say."""
    found = build(birth_date, risk)
    assert ("fracture-risk" in [f.kind for f in found.red_flags]) is flagged
    assert [(f.key, f.refs) for f in found.uncertain] == ([(AGE_UNKNOWN, ("Patient/p1",))] if unknown else [])


def test_an_unknown_age_alone_is_not_uncertain() -> None:
    """Without osteoporosis or chronic steroid use no red flag depends on the age: nothing uncertain."""
    assert build(None, condition("M54.2", 10, "pain")).uncertain == ()


def test_fracture_risk_flag_shows_the_range() -> None:
    """The fracture-risk flag of a birth year shows the age as its range of years."""
    (flag,) = build("1956", OSTEOPOROSIS).red_flags
    assert [(f.key, f.display, f.value) for f in flag.facts][0] == ("age", "69–70", None)


# --------------------------------------------------------------------------- rules that read the age


def straddling(patient: PatientFacts, age: AgeRange) -> PatientFacts:
    return dataclasses.replace(patient, age=age)


AGE_RULES = [
    # rule, facts (an exact age that fires), order, line, the reasons that need the age
    ("muscle-relaxant-older-adult", med_facts(70), med_order(CYCLOBENZAPRINE_5), 65, ["default"]),
    ("muscle-relaxant-duration", med_facts(70), med_order(CYCLOBENZAPRINE_10, per_day=1), 65, ["cyclobenzaprine-dose"]),
    ("baclofen-renal", med_facts(70, egfr=egfr(20)), med_order(BACLOFEN_10), 65, ["default"]),
    ("nsaid-risk", med_facts(80), med_order(IBUPROFEN_600), 75, ["age"]),
    ("gabapentinoid-check", med_facts(70, neuropathic=RADICULOPATHY, falls=FALLS), med_order(GABAPENTIN_300), 65, ["falls-older"]),
    ("duloxetine-check", med_facts(70), med_order(DULOXETINE_30), 65, ["older"]),
    ("opioid-risk", med_facts(70, falls=FALLS), med_order(OXYCODONE_5), 65, ["falls-older"]),
]


@pytest.mark.parametrize(("rule_id", "patient", "drafted", "line", "reasons"), AGE_RULES)
def test_age_rules_decide_on_a_range_that_is_on_one_side(
    rule_id: str, patient: PatientFacts, drafted: Any, line: int, reasons: list[str]
) -> None:
    """A birth date whose every possible age is at or over the rule's line fires the rule as an exact age does."""
    assert keys(med_run(rule_id, patient, drafted)) == reasons
    assert keys(med_run(rule_id, straddling(patient, AgeRange(line, line + 1)), drafted)) == reasons


@pytest.mark.parametrize(("rule_id", "patient", "drafted", "line", "reasons"), AGE_RULES)
def test_age_rules_are_silent_when_the_range_straddles_their_line(
    rule_id: str, patient: PatientFacts, drafted: Any, line: int, reasons: list[str]
) -> None:
    """An age of line-1 or line (a birth year or month across the birthday) or an unknown age says nothing about age."""
    for age in (AgeRange(line - 1, line), AgeRange()):
        assert not set(keys(med_run(rule_id, straddling(patient, age), drafted))) & set(reasons)


def test_benzodiazepine_card_names_the_age_only_when_it_is_known() -> None:
    """benzodiazepine-for-spasm still fires on a split age range, without the older-adult fact."""
    patient = straddling(med_facts(70), AgeRange(64, 65))
    found = med_run("benzodiazepine-for-spasm", patient, med_order(DIAZEPAM_5))
    assert found is not None and found.reasons[0].data["older"] is False and found.reasons[0].facts == ()
    older = med_run("benzodiazepine-for-spasm", straddling(patient, AgeRange(69, 70)), med_order(DIAZEPAM_5))
    assert older is not None and older.reasons[0].data["older"] is True


@pytest.mark.parametrize(("age", "fires"), [(AgeRange(79, 80), False), (AgeRange(80, 81), True), (AgeRange(), False)])
def test_surgery_age_80_on_a_range(age: AgeRange, fires: bool) -> None:
    """surgery-age-80 fires when every possible age is 80 or more, and is silent on 79-80 or an unknown age."""
    found = run("surgery-age-80", facts(age=age, pain=pain(150)), [order("acdf", *ACDF)])
    assert (found is not None) is fires
    if found is not None:
        wire = card(found, age.shown)
        assert wire["summary"].startswith("Age 80–81:") and "Age 80–81 years" in wire["detail"]


def test_cards_show_the_age_range() -> None:
    """A muscle relaxant at a birth year of 69-70 years: the card says "ordered at age 69–70" and "Age 69–70 years"."""
    patient = straddling(med_facts(70), AgeRange(69, 70))
    found = med_run("muscle-relaxant-older-adult", patient, med_order(CYCLOBENZAPRINE_5))
    assert isinstance(found, Finding)
    detail = card_json(found, patient.age.shown)["detail"]
    assert "ordered at age 69–70." in detail and "- Age 69–70 years (Patient/p1)" in detail


# --------------------------------------------------------------------------- hook calls

SELECT = "/cds-services/neck-pain-order-select"
MRI = http.service_order("72141", "MRI cervical spine without contrast")
RELAXANT = http.medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", days=7)
NECK_PAIN = http.condition("M54.2", "Cervicalgia", 7, "pain")
HTTP_OSTEOPOROSIS = http.condition("M81.0", "Age-related osteoporosis without current pathological fracture", 400, "op")
REASSURING = {"imaging-without-red-flags", "physical-therapy-first"}


def month_before_this_one(years_ago: int) -> str:
    """YYYY-MM of the month before this one, ``years_ago`` years back: every day of it gives the same age today."""
    last_month = http.TODAY.replace(day=1) - timedelta(days=1)
    return f"{last_month.year - years_ago}-{last_month.month:02d}"


def answer(
    client: TestClient, birth_date: str | None, *resources: dict[str, Any], orders: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body = http.hook_body([patient_born(birth_date), NECK_PAIN, *resources], orders or [MRI])
    response = client.post(SELECT, json=body)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def ratings(response: dict[str, Any]) -> list[str]:
    return [
        e["valueCodeableConcept"]["coding"][0]["code"]
        for action in response.get("systemActions") or []
        for e in action["resource"].get("extension", [])
        if e["url"].endswith("/pama-rating")
    ]


def test_hook_call_birth_month_fires_the_beers_card_with_the_age(shared_client: TestClient) -> None:
    """A 70-year-old recorded with a birth month only, ordering cyclobenzaprine: the Beers card fires and says age 70."""
    response = answer(shared_client, month_before_this_one(70), orders=[RELAXANT])
    relaxant = next(c for c in response["cards"] if c["source"]["topic"]["code"] == "muscle-relaxant-older-adult")
    assert relaxant["indicator"] == "warning" and "ordered at age 70." in relaxant["detail"]


def test_hook_call_missing_birth_date_with_osteoporosis_withholds_reassurance(shared_client: TestClient) -> None:
    """No birthDate and osteoporosis (M81.0): no "No red flags" card, no not-appropriate rating, and the note names the age."""
    response = answer(shared_client, None, HTTP_OSTEOPOROSIS)
    assert not REASSURING & set(http.topics(response)) and ratings(response) == []
    prior = http.procedure("72141", "MRI cervical spine without contrast", 20, "prior-mri")
    response = answer(shared_client, None, HTTP_OSTEOPOROSIS, prior)
    modality = next(c for c in response["cards"] if c["source"]["topic"]["code"] == "imaging-modality")
    assert "Could not be read or recognised:** the patient's age (birth date) — red flags cannot be excluded." in modality["detail"]
    assert "Age-related osteoporosis" not in json.dumps(response)  # the note counts, never lists
