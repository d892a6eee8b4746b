"""Red flags named only in words, or coded outside the value sets, are never read as "no red flag":
the words of cards/_red_flag_terms.yaml make the record uncertain, and an immunosuppressant that no
code identifies is found in immunosuppressant-drugs by its ingredient or brand name."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.content.loader import ContentSet, load_content
from cds_service.facts.build import build_facts
from cds_service.facts.model import DATA_KEYS, UNRECOGNISED_TEXT
from cds_service.facts.record import select_record
from cds_service.settings import BUNDLED_CONTENT_DIR
from cds_service.terminology.drugnames import MemberNames, member_names
from tests.conftest import TODAY, ICD10, condition, days_ago, hook_body, medication_order, patient, service_order, topics

LOCAL = "http://hospital.example.org/codes"
WHO_ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
NDC = "http://hl7.org/fhir/sid/ndc"  # codes below other than the audit's two are placeholders: no value set lists an NDC
URL = "/cds-services/neck-pain-order-select"
REASSURING = {"imaging-without-red-flags", "physical-therapy-first"}
NOTE = "Could not be read or recognised:"
XRAY = service_order("72040", "X-ray cervical spine 2-3 views")
# At 70 the muscle relaxant draws a card whatever the record holds: the card that must carry the note.
CYCLOBENZAPRINE = medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", oid="m1")


@cache
def content() -> ContentSet:
    return load_content(BUNDLED_CONTENT_DIR)


def coded(system: str, code: str, display: str, cid: str = "rf") -> dict[str, Any]:
    """An active Condition of one coding, its display as its text, onset 30 days ago."""
    return condition(code, display, 30, cid, system=system)


def text_only(text: str, cid: str = "rf") -> dict[str, Any]:
    """An active Condition with no coding at all, only ``code.text``."""
    resource = condition("x", "x", 30, cid)
    resource["code"] = {"text": text}
    return resource


def statement(system: str, code: str, display: str, mid: str = "ms1") -> dict[str, Any]:
    """An active MedicationStatement whose drug is one coding (``system``/``code``) with its display as text."""
    return {
        "resourceType": "MedicationStatement",
        "id": mid,
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "effectivePeriod": {"start": days_ago(200)},
    }


def contained_request(system: str, code: str, display: str) -> dict[str, Any]:
    """An active MedicationRequest whose drug is a contained Medication coded ``system``/``code`` (no text of its own)."""
    return {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": days_ago(60),
        "contained": [
            {"resourceType": "Medication", "id": "drug", "code": {"coding": [{"system": system, "code": code, "display": display}]}}
        ],
        "medicationReference": {"reference": "#drug"},
    }


def answer(client: TestClient, *resources: dict[str, Any]) -> dict[str, Any]:
    """The order-select answer for a 70-year-old with acute neck pain, a cervical X-ray and cyclobenzaprine drafted."""
    body = hook_body([patient(70), condition("M54.2", "Cervicalgia", 7, "pain"), *resources], [XRAY, CYCLOBENZAPRINE])
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def rating(body: dict[str, Any]) -> str | None:
    """The PAMA rating of the X-ray, None when it is not rated."""
    for action in body.get("systemActions", []):
        for extension in action.get("resource", {}).get("extension", []):
            if extension["url"] == "http://fhir.org/argonaut/Extension/pama-rating":
                return str(extension["valueCodeableConcept"]["coding"][0]["code"])
    return None


def test_without_the_entry_the_reassuring_cards_fire(shared_client: TestClient) -> None:
    """The baseline of the cases below: nothing but neck pain on record, so both reassuring cards fire and no note is added."""
    body = answer(shared_client)
    assert REASSURING <= set(topics(body)) and NOTE not in str(body) and rating(body) == "not-appropriate"


UNCERTAIN_CONDITIONS = {
    "F1a local myelopathy": coded(LOCAL, "L-1", "Cervical myelopathy"),
    "F1b local fever": coded(LOCAL, "L-2", "Fever"),
    "F1c text-only progressive weakness": text_only("Progressive weakness of left arm"),
    "F1d WHO ICD-10 fever": coded(WHO_ICD10, "R50.9", "Fever, unspecified"),
    "F1e local heroin use": coded(LOCAL, "L-3", "Heroin use disorder"),
    "local opioid dependence": coded(LOCAL, "L-4", "Opioid dependence"),
    "local paraparesis": coded(LOCAL, "L-5", "Spastic paraparesis"),
    "text-only pyrexia": text_only("Pyrexia of unknown origin"),
    "F2a SNOMED cervical spine injury": coded(SNOMED, "262522002", "Injury of cervical spine"),
    "F2b SNOMED thoracic fracture": coded(SNOMED, "207938004", "Closed fracture thoracic vertebra"),
    "F2c ICD-10-CM other fever": coded(ICD10, "R50.89", "Other specified fever"),
    "F2d ICD-10-CM thoracic myelopathy": coded(ICD10, "M47.14", "Other spondylosis with myelopathy, thoracic region"),
    "local spinal cord injury": coded(LOCAL, "L-6", "Spinal cord injury"),
}


@pytest.mark.parametrize("entry", UNCERTAIN_CONDITIONS.values(), ids=UNCERTAIN_CONDITIONS.keys())
def test_red_flag_named_outside_the_value_sets_withholds_reassurance(shared_client: TestClient, entry: dict[str, Any]) -> None:
    """A Condition naming a myelopathy, deficit, fever, spinal injury or IV-drug-use proxy in a code no red-flag set lists: no reassurance, the note shown."""
    body = answer(shared_client, entry)
    rules = topics(body)
    assert not REASSURING & set(rules), rules
    relaxant = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "muscle-relaxant-older-adult")
    assert f"{NOTE}** 1 Condition(s) — red flags cannot be excluded." in relaxant["detail"]
    assert rating(body) is None  # uncertainty is never rated


UNCERTAIN_DRUGS = {
    "Humira brand alone": statement(NDC, "00074-0554-02", "Humira 40 MG/0.4ML Pen"),
    "Enbrel brand alone": statement(NDC, "99999-0001-01", "Enbrel 50 MG/ML SureClick"),
    "Rituxan brand alone": statement(NDC, "99999-0002-01", "Rituxan 10 MG/ML Injection"),
    "fingolimod (not in the set)": statement(NDC, "99999-0003-01", "Fingolimod 0.5 MG Oral Capsule"),
    "cyclophosphamide (a member without display)": statement(NDC, "99999-0004-01", "Cyclophosphamide 50 MG Oral Tablet"),
    "tacrolimus ointment (a form the set lacks)": statement(LOCAL, "T-2", "Tacrolimus 0.1 % Topical Ointment"),
}


@pytest.mark.parametrize("entry", UNCERTAIN_DRUGS.values(), ids=UNCERTAIN_DRUGS.keys())
def test_immunosuppressant_the_value_set_cannot_place_withholds_reassurance(shared_client: TestClient, entry: dict[str, Any]) -> None:
    """An immunosuppressant by a brand name the repo's RxNorm names lack, or one immunosuppressant-drugs does not list: no reassurance, the note shown."""
    body = answer(shared_client, entry)
    assert not REASSURING & set(topics(body))
    assert any(f"{NOTE}** 1 medication(s) — red flags cannot be excluded." in c["detail"] for c in body["cards"])


RECOGNISED_DRUGS = {
    "F3a NDC methotrexate": statement(NDC, "00054-4550-25", "Methotrexate 2.5 MG Oral Tablet"),
    "F3b NDC Humira (adalimumab)": statement(NDC, "00074-0554-02", "Humira 40 MG/0.4ML Pen (adalimumab)"),
    "NDC etanercept": statement(NDC, "99999-0005-01", "etanercept 50 MG/ML Auto-Injector"),
    "NDC rituximab": statement(NDC, "99999-0006-01", "rituximab 10 MG/ML Injection"),
    "NDC Xeljanz (a brand of the set)": statement(NDC, "99999-0007-01", "Xeljanz 5 MG Oral Tablet"),
    "local mycophenolate": statement(LOCAL, "M-7", "Mycophenolate 500 MG Oral Tablet"),
    "NDC contained Medication": contained_request(NDC, "00054-4550-25", "Methotrexate 2.5 MG Oral Tablet"),
}


@pytest.mark.parametrize("entry", RECOGNISED_DRUGS.values(), ids=RECOGNISED_DRUGS.keys())
def test_immunosuppressant_no_code_identifies_is_recognised_by_name(shared_client: TestClient, entry: dict[str, Any]) -> None:
    """A drug immunosuppressant-drugs lists, coded by NDC or locally, is found by its ingredient or brand name: an immunosuppression red flag."""
    body = answer(shared_client, entry)
    assert not REASSURING & set(topics(body))
    assert NOTE not in str(body)  # read and understood
    assert rating(body) == "appropriate"  # positive evidence: a red flag


@pytest.mark.parametrize(
    "text",
    [
        "Cervical myelopathy",
        "Fever",
        "Febrile neutropenia",
        "Pyrexia",
        "Progressive weakness of left arm",
        "Weakness of both legs",
        "Quadriparesis",
        "Cauda equina syndrome",
        "Spinal cord compression",
        "Injury of cervical spine",
        "Closed fracture thoracic vertebra",
        "Fracture of first cervical vertebra",
        "Fracture of neck, unspecified",
        "Concussion and edema of cervical spinal cord",
        "Heroin use disorder",
        "Opioid abuse, uncomplicated",
        "Other psychoactive substance dependence, uncomplicated",
        "Polysubstance abuse",
        "Cocaine dependence",
        "Dependence on diamorphine",
        "Humira",
        "Enbrel",
        "Methotrexate",
        "Anti-TNF therapy",
    ],
)
def test_terms_name_the_red_flags(text: str) -> None:
    """Myelopathy, progressive or limb deficits, fever, spinal injury, IV-drug-use proxies and immunosuppressants are named by the terms."""
    assert content().index.names_red_flag(text)


@pytest.mark.parametrize(
    "text",
    [
        "Seasonal allergic rhinitis",
        "Hay fever",
        "Hay fever with asthma",
        "Sprain of ankle",
        "Acute bronchitis",
        "Whiplash injury to neck",
        "Spondylosis without myelopathy or radiculopathy, cervical region",
        "Cervical spondylosis without myelopathy",
        "Chills (without fever)",
        "History of febrile seizure",
        "Fever blister",
        "Yellow fever vaccine",
        "History of rheumatic fever",
        "Childrens Pain & Fever 160 MG/5ML",
        "Pain Reliever/Fever Reducer 500 MG Oral Tablet",
        "Afebrile",
        "Drug overdose",
        "Long term (current) use of opiate analgesic",
        "Alcohol use disorder",
        "Hemiparesis following stroke",
        "Functional quadriplegia",
        "Fracture of neck of femur",
        "Fracture of rib",
        "Bullet wound",
        "Feverfew 400 MG",
        "Posttraumatic stress disorder",
        "Concussion with loss of consciousness",
        "Umbilical cord compression",
    ],
)
def test_common_unrelated_displays_do_not_match(text: str) -> None:
    """Allergies, sprains, negated or childhood fevers, antipyretic product names, stroke deficits and non-spinal injuries name no red flag."""
    assert not content().index.names_red_flag(text)


def test_unrelated_local_condition_keeps_the_reassurance(shared_client: TestClient) -> None:
    """A locally coded hay fever is no red flag: both reassuring cards still fire, without the note."""
    body = answer(shared_client, coded(LOCAL, "L-9", "Hay fever"))
    assert REASSURING <= set(topics(body)) and NOTE not in str(body)


def test_uncertain_fact_names_the_entry() -> None:
    """The fever Condition under a WHO ICD-10 code is kept as an unrecognised-text fact of its own reference, not a red flag."""
    c = content()
    record = select_record({"all": [patient(70), coded(WHO_ICD10, "R50.9", "Fever, unspecified", "who")]}, c.index, "p1")
    found = build_facts(record, c.terminology, c.facts.params, TODAY, frozenset(DATA_KEYS))
    assert [(f.key, f.refs) for f in found.uncertain] == [(UNRECOGNISED_TEXT, ("Condition/who",))] and found.red_flags == ()


# --------------------------------------------------------------------------- names of a value set's members


def test_member_names_are_single_ingredient_names_and_brands() -> None:
    """Ingredients and brands of single-ingredient products count, salts and dose-form groups dropped; a combination names neither part."""
    names, routes = member_names(
        [
            "Azathioprine 50 MG Oral Tablet [Imuran]",
            "mycophenolate mofetil 500 MG Oral Tablet",
            "Methotrexate Pill",
            "13.4 ML hyaluronidase, human recombinant 2000 UNT/ML / rituximab 120 MG/ML Injection",
            "1 ML etanercept 50 MG/ML Auto-Injector",
            "prednisone 5 MG Oral Tablet",  # named by the ingredient table already
        ]
    )
    assert names == {"azathioprine", "imuran", "mycophenolate", "methotrexate", "etanercept"}
    assert routes == {"oral", "injectable"}


def test_member_names_respect_the_routes_of_the_set() -> None:
    """A name counts for a set unless the text states a route none of its members has."""
    matcher = MemberNames({"immunosuppressant-drugs": ["Tacrolimus 1 MG Oral Capsule", "1 ML tacrolimus 5 MG/ML Injection"]})
    assert matcher.find("Tacrolimus 0.5 mg capsule") == {"immunosuppressant-drugs"}
    assert matcher.find("tacrolimus 5 mg/mL IV solution") == {"immunosuppressant-drugs"}
    assert matcher.find("Tacrolimus 0.1 % Topical Ointment") == frozenset()
    assert matcher.find("Hydrocortisone cream") == frozenset()


def test_a_known_code_is_not_overridden_by_names() -> None:
    """An RxNorm product the table knows (ibuprofen) is read by its code even when its text names a set member."""
    _, sets = content().index.of_medication(
        [("http://www.nlm.nih.gov/research/umls/rxnorm", "197806")], "Ibuprofen 600 MG (with methotrexate)"
    )
    assert "immunosuppressant-drugs" not in sets
