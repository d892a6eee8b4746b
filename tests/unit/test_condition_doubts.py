"""Radiculopathy, myelopathy and instability in doubt, and a pain onset not understood: a Condition
that could show the fact but was not understood is not its absence, so the rules that need it absent
(or the pain's duration) stay silent, and the rules that fire on it being present are unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.appropriateness import rate
from cds_service.facts.model import UNREAD_ONSET, UNREADABLE, UNRECOGNISED_TEXT
from tests import conftest
from tests.unit.rules_support import (
    GABAPENTIN_300,
    PREDNISONE_20,
    fact,
    facts,
    imaging,
    keys,
    med_facts,
    med_order,
    med_run,
    order,
    pain,
    reason_keys,
    run,
)
from tests.unit.test_facts import ICD10, SNOMED, ago, build, condition

LOCAL = "http://hospital.example.org/codes"
NECK_PAIN = condition("M54.2", 30, "pain", display="Cervicalgia")


def local(text: str, cid: str = "x1", status: str = "active", **extra: Any) -> dict[str, Any]:
    """A Condition coded in a local system no value set knows, with ``text``."""
    return condition("L-123", 400, cid, system=LOCAL, status=status, display=text, **extra)


def text_only(text: str, cid: str = "x1") -> dict[str, Any]:
    resource = local(text, cid)
    resource["code"] = {"text": text}
    return resource


def doubts(resources: list[dict[str, Any]], name: str) -> list[tuple[str, str]]:
    found = build(NECK_PAIN, *resources)
    return [(f.key, f.refs[0]) for f in getattr(found, f"{name}_doubt")]


# --------------------------------------------------------------------------- facts: radiculopathy


@pytest.mark.parametrize(
    "resource",
    [
        local("Left C6 cervical radiculopathy"),
        text_only("Cervical radiculitis"),
        local("Brachial neuritis"),
        local("Cervical radicular pain"),
        condition("M54.14", 400, "x1", display="Radiculopathy, thoracic region"),
        condition("M54.10", 400, "x1", display="Radiculopathy, site unspecified"),
    ],
    ids=["local", "text-only", "brachial-neuritis", "radicular-pain", "thoracic-M54.14", "unspecified-M54.10"],
)
def test_radiculopathy_named_outside_its_value_set_is_in_doubt(resource: dict[str, Any]) -> None:
    """Text, a local code or another region's ICD-10-CM code naming radiculopathy leaves it in doubt, not absent, not present."""
    found = build(NECK_PAIN, resource)
    assert found.radiculopathy is None
    assert [(f.key, f.refs[0]) for f in found.radiculopathy_doubt] == [(UNRECOGNISED_TEXT, "Condition/x1")]


@pytest.mark.parametrize(
    "resource",
    [
        condition("M47.812", 400, "x1", display="Spondylosis without myelopathy or radiculopathy, cervical region"),
        condition("M54.16", 400, "x1", display="Radiculopathy, lumbar region"),
        condition("M51.16", 400, "x1", display="Intervertebral disc disorders with radiculopathy, lumbar region"),
        condition("128196005", 400, "x1", system=SNOMED, display="Lumbar radiculopathy"),
        local("L5-S1 radiculopathy"),
        local("Lumbosacral radiculitis"),
        local("Cervicalgia, chronic"),
        condition("M51.16", 400, "x1", display="Lumbar disc herniation with radiculopathy"),
        condition("M48.062", 400, "x1", display="Lumbar spinal stenosis with radiculopathy"),
        local("Radiculopathy L5"),
        local("Cervical radiculopathy", status="resolved"),
        local("Cervical radiculopathy", verificationStatus={"coding": [{"code": "entered-in-error"}]}),
    ],
    ids=[
        "M47.812-without", "M54.16", "M51.16", "sct-lumbar", "L5-S1", "lumbosacral", "unrelated", "M51.16-problem-list",
        "M48.062-problem-list", "level-after", "resolved", "void",
    ],  # fmt: skip
)
def test_low_back_negated_or_inactive_radiculopathy_is_no_doubt(resource: dict[str, Any]) -> None:
    """A lumbar or sacral radiculopathy, "without … radiculopathy", unrelated text, a resolved or void entry: no doubt."""
    assert doubts([resource], "radiculopathy") == []


def test_cervical_radiculopathy_coded_is_present_and_an_invalid_one_in_doubt() -> None:
    """M54.12 establishes radiculopathy; an M54.12 Condition that fails validation leaves it in doubt."""
    coded = build(NECK_PAIN, condition("M54.12", 40, "rad", display="Radiculopathy, cervical region"))
    assert coded.radiculopathy is not None and coded.radiculopathy_doubt == ()
    broken = condition("M54.12", None, "rad", display="Radiculopathy, cervical region", onsetDateTime="last spring")
    found = build(NECK_PAIN, broken)
    assert found.radiculopathy is None
    assert [(f.key, f.refs[0]) for f in found.radiculopathy_doubt] == [(UNREADABLE, "Condition/rad")]


# --------------------------------------------------------------------------- facts: myelopathy, instability


@pytest.mark.parametrize(
    ("text", "name", "in_doubt"),
    [
        ("Cervical myelopathy", "myelopathy", True),
        ("Spinal cord compression", "myelopathy", True),
        ("Cervical spondylosis without myelopathy", "myelopathy", False),
        ("Other spondylosis with myelopathy, lumbar region", "myelopathy", False),
        ("Cervical and lumbar myelopathy", "myelopathy", True),
        ("Atlantoaxial instability", "instability", True),
        ("Cervical spine instability", "instability", True),
        ("Lumbar spinal instability", "instability", False),
        ("Subluxation of C5 cervical vertebra", "instability", False),
        ("Instability of knee joint", "instability", False),
    ],
)
def test_myelopathy_and_instability_named_under_a_local_code(text: str, name: str, in_doubt: bool) -> None:
    """Myelopathy or cervical instability named under a local code is in doubt; lumbar, knee, "without" or a chiropractic subluxation is not."""
    assert doubts([local(text)], name) == ([(UNRECOGNISED_TEXT, "Condition/x1")] if in_doubt else [])


# --------------------------------------------------------------------------- facts: pain onset


@pytest.mark.parametrize(
    "onset",
    [
        {"onsetString": "about 3 months ago"},
        {"onsetAge": {"value": 48, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}},
        {"onsetPeriod": {"end": ago(60)}},
        {"onsetRange": {"low": {"value": 40, "unit": "a"}, "high": {"value": 45, "unit": "a"}}},
        {"onsetDateTime": "2024"},
    ],
    ids=["string", "age", "period-end-only", "range", "partial-date"],
)
def test_onset_not_understood_is_not_replaced_by_recorded_date(onset: dict[str, Any]) -> None:
    """An onset stated as text, an age, a range, a period without start or a partial date leaves the pain duration unknown."""
    found = build(condition("M54.2", None, "pain", display="Cervicalgia", recordedDate=ago(3), **onset))
    assert found.pain_days is None
    assert found.pain is not None and found.pain.on is None
    assert [(f.key, f.refs[0]) for f in found.pain_doubt] == [(UNREAD_ONSET, "Condition/pain")]


def test_onset_period_start_dates_the_pain() -> None:
    """An onsetPeriod with a start is understood: the pain began then."""
    found = build(condition("M54.2", None, "pain", onsetPeriod={"start": ago(70)}, recordedDate=ago(3)))
    assert found.pain_days == 70 and found.pain_doubt == ()


def test_a_dated_condition_with_another_of_unread_onset_leaves_the_duration_unknown() -> None:
    """A condition dated 20 days ago is the pain, but another whose onset was not understood may be older: no duration."""
    unread = condition("M54.6", None, "thoracic", display="Pain in thoracic spine", onsetString="since 2019", recordedDate=ago(3))
    found = build(condition("M54.2", 20, "pain"), unread)
    assert found.pain is not None and found.pain.refs == ("Condition/pain",)
    assert found.pain_days is None
    assert [f.refs[0] for f in found.pain_doubt] == ["Condition/thoracic"]


# --------------------------------------------------------------------------- rules

RAD_DOUBT = (fact(UNRECOGNISED_TEXT, 100, "Condition/x1", "Left C6 cervical radiculopathy"),)
MYELO_DOUBT = (fact(UNRECOGNISED_TEXT, 100, "Condition/x2", "Cervical myelopathy"),)
UNSTABLE_DOUBT = (fact(UNRECOGNISED_TEXT, 100, "Condition/x3", "Atlantoaxial instability"),)
ONSET_DOUBT = (fact(UNREAD_ONSET, None, "Condition/pain2", "Cervicalgia"),)
XRAY = order("xr", "imaging-xr-cervical-spine")
MRI = order("mri", "imaging-mri-cervical-spine")
PT_REFERRAL = order("pt", "physical-therapy", selected=False)


@pytest.mark.parametrize("doubt", ["radiculopathy_doubt", "myelopathy_doubt"])
def test_imaging_without_red_flags_is_silent_when_radiculopathy_or_myelopathy_is_in_doubt(doubt: str) -> None:
    """Radiculopathy or myelopathy in doubt: no "no red flags" imaging card, which fires without it."""
    assert run("imaging-without-red-flags", facts(pain=pain(10)), (XRAY,)) is not None
    assert run("imaging-without-red-flags", facts(pain=pain(10), **{doubt: RAD_DOUBT}), (XRAY,)) is None


def test_imaging_without_red_flags_drops_early_pain_when_the_onset_is_in_doubt() -> None:
    """An onset in doubt is not "under 6 weeks": silent with PT planned, only "no PT" without it."""
    assert reason_keys(run("imaging-without-red-flags", facts(pain=pain(3)), (XRAY,), (PT_REFERRAL,))) == ["early-pain"]
    patient = facts(pain=pain(3), pain_doubt=ONSET_DOUBT)
    assert run("imaging-without-red-flags", patient, (XRAY,), (PT_REFERRAL,)) is None
    assert reason_keys(run("imaging-without-red-flags", patient, (XRAY,))) == ["no-pt"]


def test_imaging_modality_after_fusion_is_silent_when_radiculopathy_is_in_doubt() -> None:
    """MRI after a cervical fusion: no "radiographs instead" card when a radiculopathy may be on record."""
    fusion = fact("cervical-fusion", 400, "Procedure/acdf")
    assert reason_keys(run("imaging-modality", facts(pain=pain(100), cervical_fusion=fusion), (MRI,))) == ["fusion-mri"]
    assert run("imaging-modality", facts(pain=pain(100), cervical_fusion=fusion, radiculopathy_doubt=RAD_DOUBT), (MRI,)) is None


@pytest.mark.parametrize(("doubt_days", "duplicate"), [(10, False), (None, False), (60, True)])
def test_recent_study_is_no_duplicate_when_a_doubtful_radiculopathy_may_be_newer(doubt_days: int | None, duplicate: bool) -> None:
    """A condition that could be radiculopathy, dated after the recent MRI or undated, may be a new finding: no duplicate card."""
    doubt = (fact(UNRECOGNISED_TEXT, doubt_days, "Condition/x1", "Cervical radiculitis"),)
    patient = facts(pain=pain(100), imaging_history=(imaging("mri", "cervical", 30),), radiculopathy_doubt=doubt)
    assert (run("imaging-modality", patient, (MRI,)) is not None) is duplicate


def test_interventional_axial_pain_is_silent_when_radiculopathy_or_the_onset_is_in_doubt() -> None:
    """A facet injection in chronic pain: warned without radiculopathy, silent when it or the pain onset is in doubt."""
    facet = order("facet", "facet-injection")
    assert run("interventional-axial-pain", facts(pain=pain(100)), (facet,)) is not None
    assert run("interventional-axial-pain", facts(pain=pain(100), radiculopathy_doubt=RAD_DOUBT), (facet,)) is None
    assert run("interventional-axial-pain", facts(pain=pain(100), pain_doubt=ONSET_DOUBT), (facet,)) is None


def test_epidural_radicular_still_fires_on_radiculopathy_present() -> None:
    """A doubt never silences a rule that fires because radiculopathy is on record."""
    esi = order("esi", "epidural-steroid-injection")
    patient = facts(pain=pain(20), radiculopathy=fact("radiculopathy", 20), radiculopathy_doubt=RAD_DOUBT)
    assert reason_keys(run("epidural-radicular", patient, (esi,))) == ["no-imaging"]


@pytest.mark.parametrize("doubt", ["radiculopathy_doubt", "myelopathy_doubt", "instability_doubt"])
def test_fusion_for_axial_pain_is_silent_when_a_non_axial_cause_is_in_doubt(doubt: str) -> None:
    """A cervical fusion order: "axial pain only" is not said when radiculopathy, myelopathy or instability is in doubt."""
    acdf = order("acdf", "cervical-fusion")
    assert run("fusion-for-axial-pain", facts(pain=pain(100)), (acdf,)) is not None
    assert run("fusion-for-axial-pain", facts(pain=pain(100), **{doubt: UNSTABLE_DOUBT}), (acdf,)) is None


@pytest.mark.parametrize(("doubt", "silent"), [("myelopathy_doubt", True), ("instability_doubt", True), ("radiculopathy_doubt", False)])
def test_surgery_before_conservative_care_is_silent_when_myelopathy_or_instability_is_in_doubt(doubt: str, silent: bool) -> None:
    """Surgery before PT: silent when myelopathy or instability is in doubt; radiculopathy is no exception in rules.md."""
    surgery = order("acdf", "spine-surgery")
    assert run("surgery-before-conservative-care", facts(pain=pain(100)), (surgery,)) is not None
    found = run("surgery-before-conservative-care", facts(pain=pain(100), **{doubt: MYELO_DOUBT}), (surgery,))
    assert (found is None) is silent


def test_systemic_corticosteroid_gives_no_axial_warning_when_radiculopathy_is_in_doubt() -> None:
    """Prednisone: the axial warning without radiculopathy, nothing when one is in doubt, the radicular info card with one on record."""
    prednisone = med_order(PREDNISONE_20, per_day=1, days=5)
    assert keys(med_run("systemic-corticosteroid", med_facts(50), prednisone)) == ["axial"]
    assert med_run("systemic-corticosteroid", med_facts(50, radiculopathy_doubt=RAD_DOUBT), prednisone) is None
    coded = med_facts(50, radiculopathy=fact("radiculopathy", 40), radiculopathy_doubt=RAD_DOUBT)
    assert keys(med_run("systemic-corticosteroid", coded, prednisone)) == ["radicular"]


def test_gabapentinoid_check_does_not_say_no_neuropathic_diagnosis_when_radiculopathy_is_in_doubt() -> None:
    """Gabapentin: "no radiculopathy or neuropathic diagnosis" is not said when a radiculopathy may be on record."""
    assert keys(med_run("gabapentinoid-check", med_facts(50), med_order(GABAPENTIN_300))) == ["no-neuropathic"]
    assert med_run("gabapentinoid-check", med_facts(50, radiculopathy_doubt=RAD_DOUBT), med_order(GABAPENTIN_300)) is None


def test_post_fusion_evaluation_is_silent_when_the_onset_is_in_doubt() -> None:
    """Pain 12+ weeks after a fusion is not measured when another in-scope condition's onset was not understood."""
    fusion = fact("cervical-fusion", 400, "Procedure/acdf")
    patient = facts(pain=pain(200), cervical_fusion=fusion)
    assert run("post-fusion-evaluation", patient, (XRAY,)) is not None
    assert run("post-fusion-evaluation", facts(pain=pain(200), cervical_fusion=fusion, pain_doubt=ONSET_DOUBT), (XRAY,)) is None


# --------------------------------------------------------------------------- rating


def test_no_criteria_apply_is_not_given_while_a_fact_is_in_doubt() -> None:
    """Pain past 6 weeks with nothing firing: no-criteria-apply, but no rating when radiculopathy, myelopathy or the onset is in doubt."""
    ratings = lambda patient: [r.value for r in rate(patient, (XRAY,), (), True)]  # noqa: E731
    assert ratings(facts(pain=pain(100))) == ["no-criteria-apply"]
    assert ratings(facts(pain=pain(100), radiculopathy_doubt=RAD_DOUBT)) == [None]
    assert ratings(facts(pain=pain(100), myelopathy_doubt=MYELO_DOUBT)) == [None]
    assert ratings(facts(pain=pain(100), pain_doubt=ONSET_DOUBT)) == [None]


# --------------------------------------------------------------------------- through the service

SELECT = "/cds-services/neck-pain-order-select"


def post(client: TestClient, resources: list[dict[str, Any]], orders: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """(rule id → indicator, the PAMA ratings) of an order-select call."""
    body = client.post(SELECT, json=conftest.hook_body(resources, orders)).json()
    ratings = [
        e["valueCodeableConcept"]["coding"][0]["code"]
        for a in body.get("systemActions", [])
        for e in a["resource"].get("extension", [])
        if e["url"].endswith("pama-rating")
    ]
    return conftest.topics(body), ratings


def radiculopathy_record(concept: dict[str, Any]) -> list[dict[str, Any]]:
    rad = {**conftest.condition("x", "x", 100, "rad"), "code": concept}
    return [conftest.patient(50), conftest.condition("M54.2", "Cervicalgia", 100, "pain"), rad]


@pytest.mark.parametrize(
    "concept",
    [
        {"text": "Left C6 cervical radiculopathy"},
        conftest.concept(ICD10, "M54.14", "Radiculopathy, thoracic region"),
        conftest.concept(LOCAL, "NEU-7", "Brachial neuritis"),
    ],
    ids=["text", "M54.14", "local"],
)
def test_a_radiculopathy_not_understood_is_not_axial_pain(shared_client: TestClient, concept: dict[str, Any]) -> None:
    """Facet injection, fusion, prednisone and an X-ray with a radiculopathy in doubt: no "axial pain" warning and no not-appropriate."""
    record = radiculopathy_record(concept)
    facet = conftest.service_order("64490", "Facet joint injection cervical single level", oid="f1")
    acdf = conftest.service_order("22551", "Anterior cervical discectomy and fusion C5-C6", oid="s1")
    prednisone = conftest.medication_order("312615", "prednisone 20 MG Oral Tablet", oid="m2", days=5, per_day=1)
    xray = conftest.service_order("72040", "X-ray cervical spine 2-3 views")
    topics, ratings = post(shared_client, record, [facet, acdf, prednisone, xray])
    assert not {"interventional-axial-pain", "fusion-for-axial-pain", "systemic-corticosteroid", "imaging-without-red-flags"} & set(topics)
    assert ratings == []


def test_the_coded_radiculopathy_still_counts(shared_client: TestClient) -> None:
    """The same orders with M54.12: the prednisone gets the radicular info card and the X-ray is rated appropriate."""
    record = radiculopathy_record(conftest.concept(ICD10, "M54.12", "Radiculopathy, cervical region"))
    prednisone = conftest.medication_order("312615", "prednisone 20 MG Oral Tablet", oid="m2", days=5, per_day=1)
    topics, ratings = post(shared_client, record, [prednisone, conftest.service_order("72040", "X-ray cervical spine 2-3 views")])
    assert topics.get("systemic-corticosteroid") == "info"
    assert ratings == ["appropriate"]


def test_an_onset_in_text_is_not_pain_of_three_days(shared_client: TestClient) -> None:
    """Onset "about 3 months ago", recorded 3 days ago, PT 100 days ago: no "pain began 0 weeks ago" imaging card, no rating."""
    pain_condition = conftest.condition("M54.2", "Cervicalgia", 0, "pain")
    del pain_condition["onsetDateTime"]
    pain_condition.update(onsetString="about 3 months ago", recordedDate=conftest.days_ago(3))
    record = [conftest.patient(50), pain_condition, conftest.procedure("97110", "Therapeutic exercise", 100, "pt1")]
    topics, ratings = post(shared_client, record, [conftest.service_order("72040", "X-ray cervical spine 2-3 views")])
    assert "imaging-without-red-flags" not in topics
    assert ratings == []
    dated = {**pain_condition, "onsetDateTime": conftest.days_ago(10)}
    del dated["onsetString"]
    topics, ratings = post(
        shared_client, [record[0], dated, record[2]], [conftest.service_order("72040", "X-ray cervical spine 2-3 views")]
    )
    assert topics.get("imaging-without-red-flags") == "warning" and ratings == ["not-appropriate"]
