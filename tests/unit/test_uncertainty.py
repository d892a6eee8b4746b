"""Uncertainty never becomes reassurance: record entries that could show a red flag but were not
read or recognised silence the reassuring cards, and every card that fires says so."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from cds_service.content.loader import ContentError, load_content
from cds_service.content.render import render_card, uncertain_counts
from cds_service.facts import Fact
from cds_service.facts.build import build_facts
from cds_service.facts.model import AGE_UNKNOWN, UNDATED, UNREAD_VALUE, UNREADABLE, UNRECOGNISED_TEXT, UNRESOLVED_MEDICATION
from cds_service.facts.record import select_record
from cds_service.rules import suggest
from cds_service.rules.engine import evaluate
from tests.unit.content_support import cards_with
from tests.unit.rules_support import BASE_URL, content, fact, facts, flag, imaging, order, pain, run
from tests.unit.test_facts import ICD10, SNOMED, SUBJECT, TODAY, ago, build, condition, patient

LOCAL = "http://hospital.example.org/codes"
REASSURING = {"imaging-without-red-flags", "physical-therapy-first"}
NECK_PAIN = condition("M54.2", 7, "pain", display="Cervicalgia")


def local_condition(text: str, cid: str = "x1", status: str = "active", **extra: Any) -> dict[str, Any]:
    """A Condition coded in a local system no value set knows, with ``text``."""
    return condition("L-123", 400, cid, system=LOCAL, status=status, display=text, **extra)


def medication(text: str, mid: str = "med1", code: str = "L-9", system: str = LOCAL, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "id": mid, "status": "active", "intent": "order", "subject": SUBJECT,
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code, "display": text}], "text": text},
        "authoredOn": ago(30), **extra,
    }


def keys(uncertain: tuple[Fact, ...]) -> list[tuple[str, str]]:
    return [(f.key, f.refs[0]) for f in uncertain]


# --------------------------------------------------------------------------- facts


@pytest.mark.parametrize(
    "text",
    ["Primary malignant neoplasm of colon", "Metastasis to bone", "Chronic lymphocytic leukemia", "Multiple myeloma",
     "Vertebral osteomyelitis", "Spinal epidural abscess", "Kidney transplant status", "Compression fracture of vertebra",
     "Fracture of thoracic vertebra", "Abnormal weight loss", "HIV infection", "Sepsis due to E. coli"],
)
def test_unknown_code_with_red_flag_text_is_uncertain(text: str) -> None:
    """A Condition in no value set whose text names a red-flag concept is an uncertain fact, not a red flag."""
    found = build(NECK_PAIN, local_condition(text))
    assert keys(found.uncertain) == [(UNRECOGNISED_TEXT, "Condition/x1")]
    assert found.red_flags == ()


@pytest.mark.parametrize(
    "text", ["Fracture of ankle", "Closed fracture of wrist", "Benign neoplasm of skin", "Sarcoidosis", "Hearing aids", "Aseptic loosening"]
)
def test_text_without_a_red_flag_is_not_uncertain(text: str) -> None:
    """An ankle fracture, a benign neoplasm and near-miss words are no red flag: nothing uncertain."""
    assert build(NECK_PAIN, local_condition(text)).uncertain == ()


def test_coding_display_is_read_as_well_as_text() -> None:
    """The red-flag words are looked for in the coding's display too, not only in ``text``."""
    resource = local_condition("x")
    resource["code"] = {"coding": [{"system": LOCAL, "code": "L-1", "display": "Carcinoma of lung"}]}
    assert keys(build(resource).uncertain) == [(UNRECOGNISED_TEXT, "Condition/x1")]


def test_historical_counts_void_does_not() -> None:
    """A resolved Condition naming cancer counts (history is a red flag); entered-in-error or refuted ones do not."""
    refuted = local_condition("Cancer of breast", "x3")
    refuted["verificationStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]}
    found = build(
        local_condition("Cancer of breast", "x1", status="resolved"),
        local_condition("Cancer of breast", "x2", verificationStatus={"coding": [{"code": "entered-in-error"}]}),
        refuted,
    )
    assert keys(found.uncertain) == [(UNRECOGNISED_TEXT, "Condition/x1")]


def test_recognised_red_flag_is_not_uncertain() -> None:
    """A Condition coded in the malignancy value set is a red flag, not an uncertain fact."""
    found = build(condition("C18.9", 400, "ca", display="Malignant neoplasm of colon"))
    assert found.uncertain == () and [f.kind for f in found.red_flags] == ["malignancy"]


def test_in_scope_condition_whose_text_names_a_red_flag_is_uncertain() -> None:
    """A neck-pain code whose text says metastatic disease: the code is in no red-flag set, the text names one."""
    found = build(condition("M54.2", 10, "c", display="Neck pain from metastatic disease"))
    assert keys(found.uncertain) == [(UNRECOGNISED_TEXT, "Condition/c")]
    assert found.scope_conditions


def test_immunosuppressant_drug_name_is_recognised() -> None:
    """A MedicationRequest for oral tacrolimus under a local formulary code is found by name in immunosuppressant-drugs: a red flag."""
    found = build(medication("Tacrolimus 1 MG Oral Capsule"))
    assert found.uncertain == () and [f.kind for f in found.red_flags] == ["immunosuppression"]


def test_immunosuppressant_name_in_a_form_the_value_set_lacks_is_uncertain() -> None:
    """A tacrolimus ointment under a local code is no member of immunosuppressant-drugs (oral, injected), yet names one: uncertain."""
    found = build(medication("Tacrolimus 0.1 % Topical Ointment"))
    assert keys(found.uncertain) == [(UNRECOGNISED_TEXT, "MedicationRequest/med1")] and found.red_flags == ()


def test_invalid_red_flag_entry_is_unreadable() -> None:
    """A malignancy Condition that fails validation (a bad date) is skipped as a red flag and kept as unreadable."""
    bad = condition("C18.9", None, "ca", display="Malignant neoplasm of colon", onsetDateTime="not-a-date")
    found = build(NECK_PAIN, bad)
    assert found.red_flags == ()
    assert keys(found.uncertain) == [(UNREADABLE, "Condition/ca")]


def test_invalid_entry_in_no_red_flag_set_is_not_uncertain() -> None:
    """An invalid Condition that could show no red flag (hypertension) leaves nothing uncertain."""
    assert build(condition("I10", None, "htn", onsetDateTime="not-a-date")).uncertain == ()


def test_unresolved_medication_reference_is_uncertain() -> None:
    """A medication whose medicationReference could not be resolved is an uncertain fact."""
    c = content()
    record = select_record({"all": [patient()]}, c.index, "p1")
    record = dataclasses.replace(record, unresolved=(("MedicationRequest/mr9", ""),))
    found = build_facts(record, c.terminology, c.facts.params, TODAY, frozenset())
    assert [(f.key, f.refs, f.display) for f in found.uncertain] == [(UNRESOLVED_MEDICATION, ("MedicationRequest/mr9",), None)]


@pytest.mark.parametrize(
    ("code", "system", "regions"),
    [("M54.6", ICD10, {"thoracic"}), ("M54.2", ICD10, {"cervical"}), ("M54.13", ICD10, {"cervical"}),
     ("S22.010A", ICD10, {"thoracic"}), ("S23.3XXA", ICD10, {"thoracic"}), ("S13.4XXA", ICD10, {"cervical"}),
     ("100211000119106", SNOMED, {"thoracic"}), ("81680005", SNOMED, {"cervical"})],
)
def test_pain_regions(code: str, system: str, regions: set[str]) -> None:
    """Thoracic-only pain codes give the thoracic region; cervical and cervicothoracic ones the cervical."""
    assert build(condition(code, 10, "c", system=system)).pain_regions == regions


def test_uncertain_counts_per_kind() -> None:
    """The card's counts are of distinct entries: Conditions and Observations apart, every other entry a medication; the age is said once."""
    uncertain = (Fact(UNREADABLE, ("Condition/a",)), Fact(UNRECOGNISED_TEXT, ("Condition/a",)),
                 Fact(UNRECOGNISED_TEXT, ("Condition/b",)), Fact(UNRESOLVED_MEDICATION, ("MedicationRequest/m",)),
                 Fact(UNREAD_VALUE, ("Observation/t",)), Fact(UNDATED, ("Observation/t",)), Fact(AGE_UNKNOWN, ("Patient/p1",)))
    assert uncertain_counts(uncertain) == {"conditions": 2, "medications": 1, "observations": 1, "age": 1}
    assert uncertain_counts((Fact(AGE_UNKNOWN, ()),)) == {"conditions": 0, "medications": 0, "observations": 0, "age": 1}


# --------------------------------------------------------------------------- rules


UNSURE = (Fact(UNRECOGNISED_TEXT, ("Condition/x1",), "Primary malignant neoplasm of colon"),)
MRI = order("o1", "imaging-mri-cervical-spine", "imaging-mri-spine-without-contrast")


def test_reassuring_cards_fire_without_uncertainty() -> None:
    """Early pain, an MRI, nothing uncertain: both reassuring cards fire (the baseline of the next test)."""
    assert REASSURING <= {f.rule_id for f in evaluate(facts(pain=pain(7)), (MRI,), content().rule_params)}


def test_uncertainty_withholds_only_the_reassuring_cards() -> None:
    """With an uncertain entry the reassuring cards are withheld and counted; imaging-modality still fires."""
    patient_facts = facts(pain=pain(7), uncertain=UNSURE, imaging_history=(imaging("mri", "cervical", 20),))
    withheld: list[tuple[str, str]] = []
    fired = {f.rule_id for f in evaluate(patient_facts, (MRI,), content().rule_params, withheld)}
    assert not fired & REASSURING
    assert "imaging-modality" in fired
    assert sorted(withheld) == [("imaging-without-red-flags", UNRECOGNISED_TEXT), ("physical-therapy-first", UNRECOGNISED_TEXT)]


def test_withheld_is_counted_once_per_reason() -> None:
    """Several uncertain entries of two reasons count each reason once per rule."""
    uncertain = UNSURE + (Fact(UNRECOGNISED_TEXT, ("Condition/x2",)), Fact(UNREADABLE, ("Condition/x3",)))
    withheld: list[tuple[str, str]] = []
    evaluate(facts(pain=pain(7), uncertain=uncertain), (MRI,), content().rule_params, withheld)
    assert sorted(withheld) == sorted((rid, reason) for rid in REASSURING for reason in (UNRECOGNISED_TEXT, UNREADABLE))


def test_duplicate_study_fires_with_an_urgent_red_flag() -> None:
    """imaging-modality (b): a recent MRI of the same region makes a new MRI a likely duplicate, urgent flag or not."""
    malignancy = fact("malignancy", 400, display="Malignant neoplasm of colon")
    patient_facts = facts(
        pain=pain(7), red_flags=(flag("malignancy", malignancy),), imaging_history=(imaging("mri", "cervical", 20),)
    )
    found = [f for f in evaluate(patient_facts, (MRI,), content().rule_params) if f.rule_id == "imaging-modality"]
    assert found and "recent-study" in [r.key for r in found[0].reasons]


OPIOID = order("m1", "opioids", rtype="MedicationRequest", display="Oxycodone 5 MG Oral Tablet")


@pytest.mark.parametrize(
    ("regions", "orders", "study"),
    [
        (frozenset({"thoracic"}), (OPIOID,), "thoracic"),
        (frozenset({"thoracic", "cervical"}), (OPIOID,), "cervical"),
        (frozenset({"cervical"}), (OPIOID,), "cervical"),
        (frozenset(), (order("x1", "imaging-xr-thoracic-spine"),), "thoracic"),
        (frozenset({"thoracic"}), (order("x1", "imaging-xr-cervical-spine"),), "cervical"),
        (frozenset(), (OPIOID,), "cervical"),
    ],
)
def test_urgent_mri_region(regions: frozenset[str], orders: tuple[Any, ...], study: str) -> None:
    """red-flag-urgent suggests the thoracic MRI when the pain and the ordered studies are thoracic only, else the cervical one."""
    malignancy = fact("malignancy", 400, display="Malignant neoplasm of colon")
    patient_facts = facts(pain=pain(7), pain_regions=regions, red_flags=(flag("malignancy", malignancy),))
    found = run("red-flag-urgent", patient_facts, orders)
    assert found is not None
    mri = found.suggestions[0].actions[0]
    expected = suggest.MRI_THORACIC_WITH_CONTRAST if study == "thoracic" else suggest.MRI_CERVICAL_WITH_CONTRAST
    assert mri.resource is not None and mri.resource["code"]["coding"][0]["code"] == expected["code"]


# --------------------------------------------------------------------------- cards


def test_card_says_what_could_not_be_read() -> None:
    """A card rendered with uncertain counts says how many Conditions and medications could not be read."""
    patient_facts = facts(pain=pain(7), imaging_history=(imaging("mri", "cervical", 20),))
    found = next(f for f in evaluate(patient_facts, (MRI,), content().rule_params) if f.rule_id == "imaging-modality")
    detail = render_card(content(), found, 50, BASE_URL, uncertain={"conditions": 2, "medications": 1}).detail
    assert "Could not be read or recognised:** 2 Condition(s), 1 medication(s) — red flags cannot be excluded." in detail
    plain = render_card(content(), found, 50, BASE_URL, uncertain={"conditions": 0, "medications": 0}).detail
    assert "Could not be read" not in plain
    assert "Primary malignant" not in detail  # counts only, no record text


# --------------------------------------------------------------------------- content


def terms_dir(tmp_path: Path, text: str) -> Path:
    return cards_with(tmp_path, "_red_flag_terms.yaml", text)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("terms:\n  malignancy:\n    - cancer\n    - 'carcin(oma'\n", 4, "terms.malignancy[1]: not a regular expression"),
        ("terms:\n  malignancy:\n    - cancer\n  infection: []\n", 4, "terms.infection: the list is empty"),
        ("terms:\n  malignancy:\n    - 'x*'\n", 3, "terms.malignancy[0]: matches an empty text"),
        ("terms: {}\n", 1, "terms"),
        ("terms:\n  infection:\n    - sepsis\n    - HIV\n", 4, "terms.infection[1]: write terms in lower case"),
    ],
)
def test_bad_terms_are_rejected_with_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """A term that does not compile, an empty list, a term matching an empty text, no terms, upper case: rejected at file:line."""
    with pytest.raises(ContentError) as caught:
        load_content(terms_dir(tmp_path, text))
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith(f"{tmp_path / 'cards' / '_red_flag_terms.yaml'}:{line}: {message}") for p in problems), problems


def test_terms_are_whole_words_and_content(tmp_path: Path) -> None:
    """Terms come from the content file and match whole words only, case-insensitively."""
    loaded = load_content(terms_dir(tmp_path, "terms:\n  malignancy:\n    - frobnoma\n"))
    names = loaded.index.names_red_flag
    assert names("FROBNOMA of the neck")
    assert not names("frobnomas") and not names("cancer")



def test_uncertain_counts_of_nothing_uncertain() -> None:
    """A record with nothing unread or unrecognised counts zero of each kind, so no card says anything could not be read."""
    assert uncertain_counts(()) == {"conditions": 0, "medications": 0, "observations": 0, "age": 0}
