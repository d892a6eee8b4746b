"""Non-opioid drug rules at their edges: systemic-corticosteroid, nsaid-risk, gabapentinoid-check,
duloxetine-check."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.facts import Fact
from cds_service.terminology.rxnorm import RxNormIndex
from tests.unit.rules_support import (
    ALPRAZOLAM_05,
    APIXABAN_5,
    CYCLOBENZAPRINE_5,
    DIAZEPAM_5,
    DICLOFENAC_75,
    DULOXETINE_30,
    GABAPENTIN_300,
    HYDROCODONE_APAP,
    IBUPROFEN_600,
    OXYCODONE_5,
    PREDNISONE_20,
    MED_TODAY,
    med_condition,
    egfr,
    med_facts,
    indicator,
    keys,
    medication,
    med_order,
    med_run,
)

FALLS = med_condition("falls", "f1", "History of falling")
RADICULOPATHY = med_condition("radiculopathy", "r1", "Cervical radiculopathy")


def test_steroid_for_axial_pain_is_a_warning() -> None:
    """Oral prednisone with no radiculopathy: axial warning with the pain fact and a remove suggestion."""
    found = med_run("systemic-corticosteroid", med_facts(50), med_order(PREDNISONE_20, per_day=1, days=5))
    assert found is not None and keys(found) == ["axial"] and indicator(found) == "warning"
    assert [f.key for f in found.reasons[0].facts] == ["pain"]
    assert found.suggestions and found.suggestions[0].actions[0].type == "delete"


@pytest.mark.parametrize(("days", "longer"), [(10, []), (11, [{"display": "Prednisone 20 MG Oral Tablet", "days": 11}])])
def test_steroid_with_radiculopathy_is_info(days: int, longer: list) -> None:
    """With radiculopathy the card is info, without suggestions; a course over 10 days is named."""
    found = med_run("systemic-corticosteroid", med_facts(50, radiculopathy=RADICULOPATHY), med_order(PREDNISONE_20, per_day=1, days=days))
    assert found is not None and keys(found) == ["radicular"] and indicator(found) == "info"
    assert found.suggestions == ()
    assert found.reasons[0].data["longer"] == longer
    assert found.reasons[0].facts[0].key == "radiculopathy"


def test_steroid_silent_for_topical_route() -> None:
    """A topical steroid product is not systemic."""
    topical = med_order("0", text="triamcinolone acetonide 0.1% topical cream")
    assert topical.medication is not None and topical.medication.route == "topical"
    assert med_run("systemic-corticosteroid", med_facts(50), topical) is None


def test_steroid_silent_when_on_chronic_steroid() -> None:
    """A patient already on chronic systemic steroid therapy is continuing it: no card."""
    chronic = Fact("chronic-steroid", ("MedicationRequest/old",), "Prednisone 7.5 mg", MED_TODAY - timedelta(days=420), 7.5, "mg/d")
    assert med_run("systemic-corticosteroid", med_facts(67, chronic_steroid=chronic), med_order(PREDNISONE_20)) is None


@pytest.mark.parametrize(("age", "fires"), [(74, False), (75, True)])
def test_nsaid_age_edge(age: int, fires: bool) -> None:
    """An oral NSAID with no other risk is info from age 75 (offering topical diclofenac, not recommended), silent at 74."""
    found = med_run("nsaid-risk", med_facts(age), med_order(IBUPROFEN_600))
    assert keys(found) == (["age"] if fires else [])
    if found is not None:
        assert indicator(found) == "info" and [(s.key, s.recommended) for s in found.suggestions] == [("switch-topical", False)]


@pytest.mark.parametrize(("value", "fires"), [(29, True), (30, False), (None, False)])
def test_nsaid_egfr_edge(value: float | None, fires: bool) -> None:
    """eGFR below 30 is a renal warning; 30 or an unmeasured eGFR is silent."""
    found = med_run("nsaid-risk", med_facts(50, egfr=None if value is None else egfr(value)), med_order(IBUPROFEN_600))
    assert keys(found) == (["renal"] if fires else [])


def test_nsaid_ckd_4_5_is_renal() -> None:
    """CKD stage 4-5 on record is a renal warning even without an eGFR."""
    ckd = med_condition("ckd-4-5", "k1", "Chronic kidney disease stage 4")
    assert keys(med_run("nsaid-risk", med_facts(50, ckd_4_5=ckd), med_order(IBUPROFEN_600))) == ["renal"]


def test_nsaid_topical_diclofenac_is_silent_oral_fires() -> None:
    """Topical diclofenac never triggers nsaid-risk; oral diclofenac does."""
    patient = med_facts(80, egfr=egfr(20))
    topical = med_order("0", text="Diclofenac sodium 1% topical gel")
    assert topical.medication is not None and topical.medication.route == "topical"
    assert med_run("nsaid-risk", patient, topical) is None
    assert keys(med_run("nsaid-risk", patient, med_order(DICLOFENAC_75))) == ["renal"]


def test_nsaid_unstated_route_counts_as_oral() -> None:
    """An NSAID order whose text names no dose form is treated as oral."""
    plain = med_order("0", text="ibuprofen 600 mg")
    assert plain.medication is not None and plain.medication.route is None
    assert keys(med_run("nsaid-risk", med_facts(50, egfr=egfr(20)), plain)) == ["renal"]


def test_nsaid_bleeding_from_anticoagulant_on_record() -> None:
    """An active anticoagulant is a bleeding warning and suppresses the age-only info."""
    apixaban = medication(APIXABAN_5, "MedicationStatement/a1", start=MED_TODAY - timedelta(days=300))
    patient = med_facts(82, egfr=egfr(48), medications=(apixaban,), anticoagulant=apixaban.as_fact("anticoagulant"))
    found = med_run("nsaid-risk", patient, med_order(IBUPROFEN_600))
    assert found is not None and keys(found) == ["bleeding"] and indicator(found) == "warning"
    assert [(f.key, f.refs) for f in found.reasons[0].facts] == [("anticoagulant", ("MedicationStatement/a1",))]


def test_nsaid_bleeding_from_systemic_steroid_drafted() -> None:
    """A systemic steroid drafted in the same request is a bleeding risk."""
    found = med_run("nsaid-risk", med_facts(50), med_order(IBUPROFEN_600), med_order(PREDNISONE_20, "m2"))
    assert keys(found) == ["bleeding"]
    assert found is not None and found.reasons[0].facts[0].refs == ("MedicationRequest/m2",)


def test_nsaid_cardiac_gi() -> None:
    """Heart failure or peptic ulcer is a warning."""
    ulcer = med_condition("peptic-ulcer", "u1", "Peptic ulcer")
    assert keys(med_run("nsaid-risk", med_facts(50, peptic_ulcer=ulcer), med_order(IBUPROFEN_600))) == ["cardiac-gi"]


def test_nsaid_first_line_for_everyone_else() -> None:
    """A younger patient without risks gets no NSAID card."""
    assert med_run("nsaid-risk", med_facts(45), med_order(IBUPROFEN_600)) is None


def test_gabapentinoid_without_neuropathic_diagnosis_is_info() -> None:
    """No neuropathic or radicular diagnosis: info, with a remove suggestion."""
    found = med_run("gabapentinoid-check", med_facts(50), med_order(GABAPENTIN_300))
    assert found is not None and keys(found) == ["no-neuropathic"] and indicator(found) == "info"
    assert [s.key for s in found.suggestions] == ["remove"]


@pytest.mark.parametrize(("value", "fires"), [(59, True), (60, False), (None, False)])
def test_gabapentinoid_egfr_edge(value: float | None, fires: bool) -> None:
    """eGFR below 60 asks for renal dosing (info, no removal); 60 or unmeasured is silent."""
    patient = med_facts(50, neuropathic=RADICULOPATHY, egfr=None if value is None else egfr(value))
    found = med_run("gabapentinoid-check", patient, med_order(GABAPENTIN_300))
    assert keys(found) == (["renal"] if fires else [])
    if found is not None:
        assert indicator(found) == "info" and found.suggestions == ()


@pytest.mark.parametrize(("age", "fires"), [(64, False), (65, True)])
def test_gabapentinoid_falls_age_edge(age: int, fires: bool) -> None:
    """Falls make a warning from age 65."""
    found = med_run("gabapentinoid-check", med_facts(age, neuropathic=RADICULOPATHY, falls=FALLS), med_order(GABAPENTIN_300))
    assert keys(found) == (["falls-older"] if fires else [])


def test_gabapentinoid_with_opioid_at_65() -> None:
    """An active opioid at 65+ is a warning naming the opioid."""
    opioid = medication(OXYCODONE_5, "MedicationStatement/o1", start=MED_TODAY - timedelta(days=20))
    found = med_run("gabapentinoid-check", med_facts(65, neuropathic=RADICULOPATHY, medications=(opioid,)), med_order(GABAPENTIN_300))
    assert keys(found) == ["opioid-older"]
    assert found is not None and found.reasons[0].facts[1].refs == ("MedicationStatement/o1",)


def test_gabapentinoid_cns_count_edge() -> None:
    """Three distinct CNS-active drugs counting the draft warn at 65+; two do not; a renewal is not counted twice."""
    patient = med_facts(70, neuropathic=RADICULOPATHY)
    two = med_run("gabapentinoid-check", patient, med_order(GABAPENTIN_300), med_order(CYCLOBENZAPRINE_5, "m2"))
    assert two is None
    three = med_run("gabapentinoid-check", patient, med_order(GABAPENTIN_300), med_order(CYCLOBENZAPRINE_5, "m2"), med_order(DULOXETINE_30, "m3"))
    assert keys(three) == ["cns-older"] and three is not None and three.reasons[0].data["count"] == 3
    same = medication(GABAPENTIN_300, "MedicationStatement/g0", start=MED_TODAY - timedelta(days=90))
    renewal = med_run("gabapentinoid-check", med_facts(70, neuropathic=RADICULOPATHY, medications=(same,)), med_order(GABAPENTIN_300), med_order(CYCLOBENZAPRINE_5, "m2"))
    assert renewal is None


def test_gabapentinoid_vignette_8_polypharmacy() -> None:
    """Vignette 8: 71 y, falls, hydrocodone and alprazolam active, eGFR 45, gabapentin + diazepam drafted → warning."""
    record = (
        medication(HYDROCODONE_APAP, "MedicationStatement/h1", start=MED_TODAY - timedelta(days=200)),
        medication(ALPRAZOLAM_05, "MedicationStatement/a1", start=MED_TODAY - timedelta(days=200)),
    )
    patient = med_facts(71, falls=FALLS, egfr=egfr(45), medications=record)
    found = med_run("gabapentinoid-check", patient, med_order(GABAPENTIN_300), med_order(DIAZEPAM_5, "m2"))
    assert keys(found) == ["no-neuropathic", "renal", "falls-older", "opioid-older", "cns-older"]
    assert found is not None and indicator(found) == "warning" and found.reasons[-1].data["count"] == 4


@pytest.mark.parametrize(("value", "fires"), [(29, True), (30, False), (None, False)])
def test_duloxetine_egfr_edge(value: float | None, fires: bool) -> None:
    """eGFR below 30 is a warning; 30 or unmeasured is silent (age 50)."""
    found = med_run("duloxetine-check", med_facts(50, egfr=None if value is None else egfr(value)), med_order(DULOXETINE_30))
    assert keys(found) == (["renal"] if fires else [])


@pytest.mark.parametrize(("age", "expected"), [(64, []), (65, ["older"])])
def test_duloxetine_older_age_edge(age: int, expected: list[str]) -> None:
    """From 65 duloxetine gets the sodium-monitoring info (no suggestion)."""
    found = med_run("duloxetine-check", med_facts(age), med_order(DULOXETINE_30))
    assert keys(found) == expected
    if found is not None:
        assert indicator(found) == "info" and found.suggestions == ()


@pytest.mark.parametrize(("age", "expected"), [(64, []), (65, ["falls-older"])])
def test_duloxetine_falls_age_edge(age: int, expected: list[str]) -> None:
    """Falls at 65+ is a warning that replaces the sodium info."""
    found = med_run("duloxetine-check", med_facts(age, falls=FALLS), med_order(DULOXETINE_30))
    assert keys(found) == expected
    if found is not None:
        assert indicator(found) == "warning"


def test_nsaid_warning_offers_the_alternatives_as_orders() -> None:
    """A warning card offers to replace the NSAID by topical diclofenac or acetaminophen: delete the draft, create a
    MedicationRequest for a real product of the bundled RxNorm table (topical, and oral acetaminophen)."""
    found = med_run("nsaid-risk", med_facts(50, egfr=egfr(20)), med_order(IBUPROFEN_600))
    assert found is not None
    by_key = {s.key: s for s in found.suggestions}
    assert list(by_key) == ["switch-topical", "switch-acetaminophen", "remove"]
    rxnorm = RxNormIndex.load()
    for key, route, ingredient in (("switch-topical", "topical", "3355"), ("switch-acetaminophen", "oral", "161")):
        delete, create = by_key[key].actions
        assert delete.type == "delete" and delete.resource_id == "MedicationRequest/m1"
        resource = create.resource
        assert create.type == "create" and resource is not None and resource["resourceType"] == "MedicationRequest"
        assert resource["status"] == "draft" and resource["intent"] == "order"
        coding = resource["medicationCodeableConcept"]["coding"][0]
        product = rxnorm.product(coding["code"])
        assert product is not None and product.route == route and product.ingredients == (ingredient,)
        assert coding["display"] == product.name
