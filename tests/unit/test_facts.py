"""Fact definitions of rules.md at their edges: raw FHIR JSON → select_record → build_facts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.facts import AgeRange, PatientFacts
from cds_service.facts.build import build_facts
from cds_service.facts.dates import add_months, whole_months
from cds_service.facts.model import CONDITIONS, DATA_KEYS, IMAGING, OBSERVATIONS, PATIENT
from cds_service.facts.record import select_record
from tests.unit.rules_support import TODAY, content

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
SUBJECT = {"reference": "Patient/p1"}


def ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def patient(age: int = 50) -> dict[str, Any]:
    born = add_months(TODAY, -12 * age) - timedelta(days=10)
    return {"resourceType": "Patient", "id": "p1", "birthDate": born.isoformat()}


def concept(code: str, system: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display or code}], "text": display or code}


def condition(code: str, days: int | None, cid: str, system: str = ICD10, status: str = "active", **extra: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Condition",
        "id": cid,
        "subject": SUBJECT,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]},
        "code": concept(code, system, extra.pop("display", None)),
        **extra,
    }
    if days is not None:
        resource["onsetDateTime"] = ago(days)
    return resource


def body_site(text: str) -> list[dict[str, Any]]:
    return [{"text": text}]


def procedure(code: str, days: int, pid: str, system: str = CPT, display: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Procedure", "id": pid, "status": "completed", "subject": SUBJECT,
            "code": concept(code, system, display), "performedDateTime": ago(days), **extra}


def service_request(code: str, days: int, sid: str, status: str = "completed") -> dict[str, Any]:
    return {"resourceType": "ServiceRequest", "id": sid, "status": status, "intent": "order", "subject": SUBJECT,
            "code": concept(code, CPT), "authoredOn": ago(days)}


def observation(code: str, value: float, unit: str, days: int, oid: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": SUBJECT, "code": concept(code, LOINC),
            "effectiveDateTime": ago(days), "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def prednisone(mg_per_day: float, start_days: int, sid: str = "ms1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement", "id": sid, "status": "active", "subject": SUBJECT,
        "medicationCodeableConcept": concept("312617", RXNORM, "Prednisone 5 MG Oral Tablet"),
        "effectivePeriod": {"start": ago(start_days)},
        "dosage": [{
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": mg_per_day, "unit": "mg", "system": UCUM, "code": "mg"}}],
        }],
    }


def build(*resources: dict[str, Any], age: int = 50, available: frozenset[str] = frozenset(DATA_KEYS)) -> PatientFacts:
    c = content()
    record = select_record({"all": [patient(age), *resources]}, c.index, "p1")
    return build_facts(record, c.terminology, c.facts.params, TODAY, available)


NECK_PAIN = condition("M54.2", 30, "pain", display="Cervicalgia")


# --------------------------------------------------------------------------- physical therapy


@pytest.mark.parametrize(("days", "done"), [(41, False), (42, True)])
def test_pt_done_at_42_days(days: int, done: bool) -> None:
    """PT_DONE is true when the earliest PT in the look-back is 42 days ago, false at 41."""
    facts = build(procedure("97110", days, "pt1"), procedure("97110", 5, "pt2"))
    assert facts.pt_any and facts.pt_done is done
    assert [f.refs for f in facts.physical_therapy] == [("Procedure/pt1",), ("Procedure/pt2",)]


@pytest.mark.parametrize(("days", "on_record"), [(180, True), (181, False)])
def test_pt_look_back_180_days(days: int, on_record: bool) -> None:
    """PT on record means within 180 days: a PT referral 180 days ago counts, 181 does not."""
    facts = build(service_request("97161", days, "sr1", status="active"))
    assert facts.pt_any is on_record and facts.pt_done is on_record


# --------------------------------------------------------------------------- pain onset


def test_pain_onset_is_earliest_active_in_scope_condition() -> None:
    """Onset is the earliest active neck/upper-back condition; resolved ones and out-of-scope ones are ignored."""
    facts = build(
        condition("M54.2", 30, "recent"),
        condition("M62.830", 100, "older", display="Muscle spasm of back"),
        condition("M54.6", 400, "resolved", status="resolved"),
        condition("I10", 900, "htn"),
    )
    assert facts.pain is not None and facts.pain.refs == ("Condition/older",)
    assert facts.pain_days == 100
    assert {f.refs[0] for f in facts.scope_conditions} == {"Condition/recent", "Condition/older"}
    assert "Condition/resolved" in facts.scope_refs


def test_pain_onset_falls_back_to_recorded_date() -> None:
    """Without onsetDateTime the recordedDate dates the pain."""
    facts = build(condition("M54.2", None, "c", recordedDate=ago(50)))
    assert facts.pain_days == 50


# --------------------------------------------------------------------------- fever


@pytest.mark.parametrize(("celsius", "fever"), [(37.9, False), (38.0, True)])
def test_fever_threshold_38_0(celsius: float, fever: bool) -> None:
    """37.9 °C is not fever, 38.0 °C is, and fever raises the urgent infection flag."""
    facts = build(NECK_PAIN, observation("8310-5", celsius, "Cel", 1, "t"))
    assert (facts.fever is not None) is fever
    assert ([f.kind for f in facts.urgent_flags] == ["infection"]) is fever


@pytest.mark.parametrize(("days", "fever"), [(7, True), (8, False)])
def test_fever_window_7_days(days: int, fever: bool) -> None:
    """A 38.6 °C reading counts for 7 days, not 8."""
    assert (build(observation("8310-5", 38.6, "Cel", days, "t")).fever is not None) is fever


def test_fever_in_fahrenheit_and_by_condition() -> None:
    """100.4 °F is 38.0 °C; an active R50.9 condition is fever too."""
    assert build(observation("8310-5", 100.4, "[degF]", 1, "t")).fever.value == 38.0
    assert build(condition("R50.9", 2, "fev")).fever.refs == ("Condition/fev",)


# --------------------------------------------------------------------------- infection, fracture risk, steroid


@pytest.mark.parametrize(("days", "flagged"), [(90, True), (91, False)])
def test_bacteremia_within_90_days(days: int, flagged: bool) -> None:
    """S. aureus bacteremia (R78.81 + B95.61) raises the urgent infection flag for 90 days."""
    facts = build(condition("R78.81", days, "bac"), condition("B95.61", days, "mssa", status="resolved"))
    flags = {f.kind: f for f in facts.red_flags}
    assert ("infection" in flags) is flagged
    if flagged:
        assert flags["infection"].urgent and {f.key for f in flags["infection"].facts} == {"bacteremia"}


def test_spinal_infection_and_malignancy_history_are_urgent() -> None:
    """Cervical discitis is an infection flag; a resolved cancer (history) is a malignancy flag."""
    facts = build(condition("M46.22", 20, "disc"), condition("Z85.3", 3000, "ca", status="resolved"))
    assert {f.kind for f in facts.urgent_flags} == {"infection", "malignancy"}


def medication(resource_type: str, code: str, display: str, status: str = "active", mid: str = "m1") -> dict[str, Any]:
    resource = {"resourceType": resource_type, "id": mid, "status": status, "subject": SUBJECT,
                "medicationCodeableConcept": concept(code, RXNORM, display)}
    if resource_type == "MedicationRequest":
        return {**resource, "intent": "order", "authoredOn": ago(200)}
    return {**resource, "effectivePeriod": {"start": ago(200)}}


@pytest.mark.parametrize(
    ("resource_type", "code", "display"),
    [
        ("MedicationRequest", "198377", "Tacrolimus 1 MG Oral Capsule"),
        ("MedicationRequest", "108513", "Tacrolimus 1 MG Oral Capsule [Prograf]"),
        ("MedicationStatement", "200060", "mycophenolate mofetil 500 MG Oral Tablet"),
        ("MedicationStatement", "616449", "Mycophenolic Acid 360 MG Delayed Release Oral Tablet [Myfortic]"),
    ],
)
def test_active_immunosuppressant_raises_the_immunosuppression_flag(resource_type: str, code: str, display: str) -> None:
    """An active tacrolimus or mycophenolate request or statement (generic or brand product) is an immunosuppression flag."""
    facts = build(NECK_PAIN, medication(resource_type, code, display))
    flags = {f.kind: f for f in facts.red_flags}
    assert set(flags) == {"immunosuppression"} and not flags["immunosuppression"].urgent
    (found,) = flags["immunosuppression"].facts
    assert found.key == "immunosuppressant" and found.refs == (f"{resource_type}/m1",) and found.display == display


def test_stopped_immunosuppressant_and_prednisone_are_not_immunosuppressant_flags() -> None:
    """A stopped tacrolimus order raises nothing, and prednisone is no immunosuppressant (it is the fracture-risk path)."""
    stopped = medication("MedicationRequest", "198377", "Tacrolimus 1 MG Oral Capsule", status="stopped")
    steroid = medication("MedicationStatement", "312617", "predniSONE 5 MG Oral Tablet", mid="m2")
    assert build(NECK_PAIN, stopped, steroid).red_flags == ()


def test_transplant_procedure_raises_the_immunosuppression_flag() -> None:
    """A kidney transplant Procedure (SNOMED, VSAC solid organ transplant procedures) is an immunosuppression flag."""
    facts = build(NECK_PAIN, procedure("70536003", 2000, "tx", system=SNOMED, display="Transplantation of kidney"))
    flags = {f.kind: f for f in facts.red_flags}
    assert [f.refs for f in flags["immunosuppression"].facts] == [("Procedure/tx",)]


@pytest.mark.parametrize(("age", "flagged"), [(65, False), (66, True)])
def test_fracture_risk_only_above_65_with_osteoporosis(age: int, flagged: bool) -> None:
    """Osteoporosis raises the (non-urgent) fracture-risk flag only at age > 65."""
    facts = build(condition("M81.0", 400, "op"), age=age)
    kinds = [f.kind for f in facts.red_flags]
    assert (kinds == ["fracture-risk"]) is flagged
    assert facts.urgent_flags == ()


def test_fracture_risk_needs_osteoporosis_or_steroid() -> None:
    """At 70, no osteoporosis and no chronic steroid means no fracture-risk flag; chronic prednisone raises it."""
    assert build(age=70).red_flags == ()
    facts = build(prednisone(7.5, 400), age=70)
    assert [f.kind for f in facts.red_flags] == ["fracture-risk"]
    assert facts.red_flags[0].facts[0].refs == ("Patient/p1",)


@pytest.mark.parametrize(("mg", "days", "chronic"), [(2.5, 91, True), (2.5, 90, False), (2.4, 400, False)])
def test_chronic_steroid_2_5_mg_for_more_than_90_days(mg: float, days: int, chronic: bool) -> None:
    """Chronic steroid: ≥ 2.5 mg/day prednisone-equivalent for more than 90 days."""
    facts = build(prednisone(mg, days))
    assert (facts.chronic_steroid is not None) is chronic


def test_chronic_steroid_by_long_term_use_code() -> None:
    """Z79.52 (long-term systemic steroid use) is chronic steroid use."""
    assert build(condition("Z79.52", 200, "z")).chronic_steroid.refs == ("Condition/z",)


# --------------------------------------------------------------------------- fusion


def test_cervical_fusion_by_cpt_with_date() -> None:
    """CPT 22551 dates the cervical fusion; the most recent fusion wins."""
    facts = build(procedure("22551", 3000, "old"), procedure("22551", 120, "new"))
    assert facts.cervical_fusion.refs == ("Procedure/new",) and facts.cervical_fusion.on == TODAY - timedelta(days=120)
    assert facts.lumbar_fusion is None


def test_cervical_fusion_by_icd10_pcs() -> None:
    """An ICD-10-PCS 0RG1… procedure is a cervical fusion."""
    assert build(procedure("0RG10A0", 400, "pcs", system=PCS)).cervical_fusion.refs == ("Procedure/pcs",)


def test_cervical_fusion_by_snomed_needs_cervical_site() -> None:
    """SNOMED 'Spinal fusion' counts as cervical only with a cervical bodySite."""
    cervical = procedure("55705006", 400, "sn", system=SNOMED, display="Spinal fusion", bodySite=body_site("Cervical spine"))
    lumbar = procedure("55705006", 400, "sn", system=SNOMED, display="Spinal fusion", bodySite=body_site("Lumbar spine"))
    assert build(cervical).cervical_fusion.refs == ("Procedure/sn",)
    assert build(lumbar).cervical_fusion is None


def test_cervical_fusion_by_z98_1_with_cervical_site_dated_by_onset_only() -> None:
    """Z98.1 with a cervical bodySite is a fusion, dated by onset; recordedDate is not the fusion date."""
    dated = build(condition("Z98.1", 900, "z", bodySite=body_site("Cervical spine")))
    assert dated.cervical_fusion.on == TODAY - timedelta(days=900)
    undated = build(condition("Z98.1", None, "z", recordedDate=ago(3), bodySite=body_site("Neck")))
    assert undated.cervical_fusion is not None and undated.cervical_fusion.on is None


@pytest.mark.parametrize(
    "resource",
    [
        condition("Z98.1", 900, "z"),  # no body site
        condition("Z98.890", 900, "z", bodySite=body_site("Cervical spine")),  # other postprocedural state
        condition("M43.22", 900, "z"),  # acquired fusion or ankylosis, cervical
        procedure("22633", 3000, "tlif"),  # lumbar fusion
    ],
)
def test_not_a_cervical_fusion(resource: dict[str, Any]) -> None:
    """Z98.1 without cervical site, Z98.890, M43.2x and lumbar fusion are not cervical fusion."""
    assert build(resource).cervical_fusion is None


def test_lumbar_fusion_by_cpt() -> None:
    """CPT 22633 is a lumbar fusion."""
    assert build(procedure("22633", 3000, "tlif")).lumbar_fusion.refs == ("Procedure/tlif",)


# --------------------------------------------------------------------------- eGFR


def test_egfr_latest_within_one_year() -> None:
    """The latest eGFR within 365 days is used; older values are ignored."""
    facts = build(observation("98979-8", 62, "mL/min/{1.73_m2}", 300, "old"), observation("62238-1", 48, "mL/min/{1.73_m2}", 20, "new"))
    assert facts.egfr.value == 48 and facts.egfr.refs == ("Observation/new",)
    assert build(observation("98979-8", 25, "mL/min/{1.73_m2}", 366, "stale")).egfr is None
    assert build(observation("98979-8", 25, "mL/min/{1.73_m2}", 365, "edge")).egfr.value == 25


# --------------------------------------------------------------------------- imaging


@pytest.mark.parametrize(("days", "recent"), [(90, True), (91, False)])
def test_recent_imaging_90_days_with_modality_and_region(days: int, recent: bool) -> None:
    """A CT cervical spine counts as recent imaging for 90 days; older studies stay in the history."""
    facts = build(procedure("72125", days, "ct"))
    assert [(i.modality, i.region) for i in facts.spine_imaging] == ([("ct", "cervical")] if recent else [])
    assert [(i.modality, i.region, i.fact.refs) for i in facts.imaging_history] == [("ct", "cervical", ("Procedure/ct",))]


def test_imaging_sources_and_statuses() -> None:
    """Completed ServiceRequests and ImagingStudies count; an active (not done) ServiceRequest does not."""
    study = {"resourceType": "ImagingStudy", "id": "is", "status": "available", "subject": SUBJECT,
             "started": ago(10), "procedureCode": [concept("30667-0", LOINC, "MR Cervical spine without contrast")]}
    facts = build(service_request("72146", 20, "done"), service_request("72070", 5, "pending", status="active"), study)
    assert [(i.modality, i.region, i.fact.refs[0]) for i in facts.imaging_history] == [
        ("mri", "cervical", "ImagingStudy/is"),
        ("mri", "thoracic", "ServiceRequest/done"),
    ]


# --------------------------------------------------------------------------- availability


def test_missing_data_keys_are_reported_in_available() -> None:
    """The data keys that could be read are kept in `available`; has() answers per key."""
    facts = build(NECK_PAIN, available=frozenset({PATIENT, CONDITIONS}))
    assert facts.available == {PATIENT, CONDITIONS}
    assert facts.has(PATIENT, CONDITIONS) and not facts.has(CONDITIONS, OBSERVATIONS) and not facts.has(IMAGING)


def test_age_in_whole_years() -> None:
    """Age is whole years at the evaluation date."""
    assert build(age=79).age == AgeRange.exact(79)


# --------------------------------------------------------------------------- calendar helpers


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [(date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2024, 3, 31), -1, date(2024, 2, 29)), (date(2025, 12, 15), 3, date(2026, 3, 15))],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    """Adding months keeps the day, clamped to the last day of a shorter month."""
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [(date(2023, 3, 15), date(2026, 3, 15), 36), (date(2023, 3, 16), date(2026, 3, 15), 35), (date(2026, 3, 15), date(2026, 3, 14), 0)],
)
def test_whole_months(start: date, end: date, months: int) -> None:
    """Whole calendar months elapsed between two dates."""
    assert whole_months(start, end) == months


# --------------------------------------------------------------------------- medications by value set


def med_request(code: str, display: str, mid: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": mid, "status": "active", "intent": "order", "subject": SUBJECT,
            "medicationCodeableConcept": concept(code, RXNORM, display), "authoredOn": ago(20)}


MEDS = (
    med_request("1049621", "Oxycodone Hydrochloride 5 MG Oral Tablet", "oxy"),
    med_request("197806", "Ibuprofen 600 MG Oral Tablet", "ibu"),
    med_request("313782", "Acetaminophen 325 MG Oral Tablet", "apap"),
)


def test_active_in_reads_only_the_asked_value_sets() -> None:
    """active_in validates only the entries in the value sets asked for, and answers as every medication read would."""
    c = content()
    record = select_record({"all": [patient(), *MEDS]}, c.index, "p1")
    facts = build_facts(record, c.terminology, c.facts.params, TODAY, frozenset(DATA_KEYS))
    assert [m.ref for m in facts.active_in("nsaids", "acetaminophen")] == ["MedicationRequest/ibu", "MedicationRequest/apap"]
    assert [e.ref for e in record.candidates if "model" in e._memo] == ["MedicationRequest/ibu", "MedicationRequest/apap"]
    full = build(*MEDS)
    for sets in (("nsaids",), ("opioids",), ("acetaminophen", "opioids"), ("anticoagulants",)):
        expected = tuple(m for m in full.medications if m.active and m.in_any(*sets))
        assert facts.active_in(*sets) == expected == full.active_in(*sets)
    assert [m.ref for m in facts.active_in("opioids")] == ["MedicationRequest/oxy"]
