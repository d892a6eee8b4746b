"""Procedure and surgery rules at their edges (pure: PatientFacts and DraftOrders in, Finding out)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.facts.dates import add_months
from tests.contract.invariants import assert_card_invariants
from tests.unit.rules_support import TODAY, action_codes, card, fact, facts, flag, imaging, order, pain, reason_keys, run

ESI_GUIDED = ("epidural-steroid-injection",)
ESI_BLIND = ("epidural-steroid-injection", "esi-without-image-guidance")
RFA = ("radiofrequency-ablation",)
FACET = ("facet-injection",)
TPI = ("trigger-point-injection",)
ACDF = ("spine-surgery", "cervical-spine-surgery", "cervical-fusion")
LUMBAR_FUSION = ("spine-surgery", "lumbar-fusion")
CHIRO = ("spinal-manipulation",)
PT = ("physical-therapy",)
RADIC = fact("radiculopathy", 49, "Condition/radic", "Cervical disc disorder with radiculopathy, mid-cervical")


def pt_days(days: int):
    return (fact("physical-therapy", days, "Procedure/pt", "PT evaluation"),)


def fusion_on(day):
    return fact("cervical-fusion", (TODAY - day).days, "Procedure/acdf", "ACDF C5-C6")


# --------------------------------------------------------------------------- interventional-axial-pain


@pytest.mark.parametrize(("pain_days", "fires"), [(83, False), (84, True)])
def test_interventional_axial_pain_12_week_edge(pain_days: int, fires: bool) -> None:
    """RFA for axial pain fires at 84 days (12 weeks), not at 83."""
    assert (run("interventional-axial-pain", facts(pain=pain(pain_days)), [order("rfa", *RFA)]) is not None) is fires


def test_interventional_axial_pain_silent_with_radiculopathy() -> None:
    """Radiculopathy on record moves ESI/facet questions to epidural-radicular: this rule is silent."""
    patient = facts(pain=pain(200), radiculopathy=RADIC)
    assert run("interventional-axial-pain", patient, [order("esi", *ESI_GUIDED), order("facet", *FACET)]) is None


def test_interventional_axial_pain_card_and_suggestions() -> None:
    """Warning card says it is about axial pain (no radiculopathy); without PT it suggests removal plus a PT referral, with PT removal only."""
    found = run("interventional-axial-pain", facts(pain=pain(240)), [order("rfa", *RFA)])
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "warning" and "about axial pain: no radiculopathy" in wire["detail"]
    assert action_codes(wire) == [("delete", "ServiceRequest/rfa"), ("create", "91251008")]
    with_pt = run("interventional-axial-pain", facts(pain=pain(240), physical_therapy=pt_days(30)), [order("rfa", *RFA)])
    assert [s.key for s in with_pt.suggestions] == ["remove"]


# --------------------------------------------------------------------------- epidural-radicular


def radicular(**kw):
    base = dict(pain=pain(49), radiculopathy=RADIC, imaging_history=(imaging("mri", "cervical", 21),), physical_therapy=pt_days(42), pt_done=True)
    return facts(**{**base, **kw})


def test_epidural_radicular_info_when_imaging_and_pt_done() -> None:
    """Image-guided ESI, MRI 3 weeks ago, PT 6 weeks ago, pain 7 weeks: info."""
    found = run("epidural-radicular", radicular(), [order("esi", *ESI_GUIDED)])
    assert reason_keys(found) == ["confirmed"]
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "info" and "about radicular pain" in wire["detail"]


def test_epidural_radicular_warning_without_image_guidance() -> None:
    """CPT 62320 (no image guidance) gives a warning and offers the image-guided code instead."""
    found = run("epidural-radicular", radicular(), [order("esi", *ESI_BLIND)])
    assert reason_keys(found) == ["no-guidance"]
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "warning" and "not image-guided" in wire["summary"]
    assert action_codes(wire) == [("delete", "ServiceRequest/esi"), ("create", "62321")]


@pytest.mark.parametrize(("before_cutoff", "fires_warning"), [(0, False), (1, True)])
def test_epidural_radicular_imaging_12_month_edge(before_cutoff: int, fires_warning: bool) -> None:
    """MRI exactly 12 months ago still confirms; one day older it does not (warning: no imaging)."""
    day = add_months(TODAY, -12) - timedelta(days=before_cutoff)
    patient = radicular(imaging_history=(imaging("ct", "cervical", (TODAY - day).days),))
    keys = reason_keys(run("epidural-radicular", patient, [order("esi", *ESI_GUIDED)]))
    assert keys == (["no-imaging"] if fires_warning else ["confirmed"])


@pytest.mark.parametrize(("pain_days", "keys"), [(83, ["confirmed"]), (84, ["chronic"])])
def test_epidural_radicular_chronic_pain_edge(pain_days: int, keys: list[str]) -> None:
    """Pain of 84 days (12 weeks) turns the card into a warning; 83 days stays info."""
    assert reason_keys(run("epidural-radicular", radicular(pain=pain(pain_days)), [order("esi", *ESI_GUIDED)])) == keys


def test_epidural_radicular_lists_every_warning() -> None:
    """No imaging, no guidance and chronic pain are three reasons on one warning card under 140 characters."""
    patient = radicular(pain=pain(200), imaging_history=())
    found = run("epidural-radicular", patient, [order("esi", *ESI_BLIND)])
    assert reason_keys(found) == ["no-imaging", "no-guidance", "chronic"]
    assert len(card(found)["summary"]) < 140


@pytest.mark.parametrize(("pt", "done", "fires"), [(pt_days(41), False, False), (pt_days(42), True, True)])
def test_epidural_radicular_info_needs_pt_done(pt, done: bool, fires: bool) -> None:
    """The info card needs PT_DONE (earliest PT 42+ days ago); before that, with nothing to warn about, silence."""
    patient = radicular(physical_therapy=pt, pt_done=done)
    assert (run("epidural-radicular", patient, [order("esi", *ESI_GUIDED)]) is not None) is fires


def test_epidural_radicular_silent_without_radiculopathy() -> None:
    """Without radiculopathy the ESI belongs to interventional-axial-pain."""
    assert run("epidural-radicular", radicular(radiculopathy=None), [order("esi", *ESI_BLIND)]) is None


# --------------------------------------------------------------------------- trigger-point-injection


@pytest.mark.parametrize(("pain_days", "fires"), [(83, False), (84, True)])
def test_trigger_point_injection_12_week_edge(pain_days: int, fires: bool) -> None:
    """Info card from 84 days of pain; both positions are stated, without an authoring note."""
    found = run("trigger-point-injection", facts(pain=pain(pain_days)), [order("tpi", *TPI)])
    assert (found is not None) is fires
    if found:
        wire = card(found)
        assert_card_invariants(wire)
        assert wire["indicator"] == "info" and "recommended by some for myofascial pain" in wire["detail"]
        assert "conflict" not in wire["detail"].lower()


# --------------------------------------------------------------------------- surgery-before-conservative-care


@pytest.mark.parametrize(("pt", "done", "fires"), [(pt_days(41), False, True), (pt_days(42), True, False)])
def test_surgery_before_conservative_care_pt_done_edge(pt, done: bool, fires: bool) -> None:
    """PT started 41 days ago: warning (PT too short); 42 days ago (PT_DONE): silent."""
    found = run("surgery-before-conservative-care", facts(pain=pain(100), physical_therapy=pt, pt_done=done), [order("acdf", *ACDF)])
    assert (found is not None) is fires
    if found:
        assert reason_keys(found) == ["pt-short"] and found.reasons[0].data["pt_weeks"] == 5
        assert found.suggestions == ()


def test_surgery_before_conservative_care_suggests_pt_referral() -> None:
    """No PT at all: warning with a PT referral; with PT drafted, still a warning but no second referral."""
    wire = card(run("surgery-before-conservative-care", facts(pain=pain(100)), [order("acdf", *ACDF)]))
    assert_card_invariants(wire)
    assert action_codes(wire) == [("create", "91251008")]
    drafted = run("surgery-before-conservative-care", facts(pain=pain(100)), [order("acdf", *ACDF), order("pt", *PT, selected=False)])
    assert reason_keys(drafted) == ["no-pt"] and drafted.suggestions == ()


@pytest.mark.parametrize(
    "extra",
    [
        {"myelopathy": fact("myelopathy", 30)},
        {"instability": fact("instability", 30)},
        {"red_flags": (flag("malignancy", fact("malignancy", 900)),)},
    ],
)
def test_surgery_before_conservative_care_silent_with_surgical_indication(extra: dict) -> None:
    """Myelopathy, instability or an urgent red flag justify surgery without PT first."""
    assert run("surgery-before-conservative-care", facts(pain=pain(100), **extra), [order("acdf", *ACDF)]) is None


# --------------------------------------------------------------------------- fusion-for-axial-pain


def test_fusion_for_axial_pain_fires_for_axial_pain_only() -> None:
    """ACDF ordered for axial neck pain (M54.2, M47.812) and nothing else: warning naming the conditions."""
    axial = (pain(150), fact("scope-condition", 150, "Condition/spondylosis", "Spondylosis without myelopathy or radiculopathy, cervical region"))
    found = run("fusion-for-axial-pain", facts(pain=axial[0], scope_conditions=axial), [order("acdf", *ACDF)])
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "warning" and "Condition/spondylosis" in wire["detail"] and "L39788" in wire["detail"]


@pytest.mark.parametrize(
    "extra",
    [
        {"radiculopathy": RADIC},
        {"myelopathy": fact("myelopathy", 30)},
        {"instability": fact("instability", 30)},
        {"red_flags": (flag("trauma", fact("trauma", 10), urgent=False),)},
        {"pain": None},
    ],
)
def test_fusion_for_axial_pain_silent_with_an_indication(extra: dict) -> None:
    """Radiculopathy, myelopathy, instability or trauma (or no pain on record) silence it."""
    assert run("fusion-for-axial-pain", facts(**{"pain": pain(150), **extra}), [order("acdf", *ACDF)]) is None


def test_fusion_for_axial_pain_ignores_lumbar_fusion() -> None:
    """A lumbar fusion order is not a cervical fusion."""
    assert run("fusion-for-axial-pain", facts(pain=pain(150)), [order("tlif", *LUMBAR_FUSION)]) is None


# --------------------------------------------------------------------------- surgery-age-80


@pytest.mark.parametrize(("age", "fires"), [(79, False), (80, True)])
def test_surgery_age_80_edge(age: int, fires: bool) -> None:
    """Cervical spine surgery fires at 80, not 79."""
    assert (run("surgery-age-80", facts(age=age, pain=pain(150)), [order("acdf", *ACDF)]) is not None) is fires


def test_surgery_age_80_card_quotes_odds_ratios_and_suggests_consult() -> None:
    """The card quotes the ORs, says first-time ACDF, and creates a valid consult ServiceRequest."""
    wire = card(run("surgery-age-80", facts(age=83, pain=pain(150)), [order("acdf", *ACDF)]), 83)
    assert_card_invariants(wire)
    for text in ("OR 2.16", "OR 2.34", "OR 3.17", "first-time", "Patient/p1"):
        assert text in wire["detail"]
    assert "Age 83" in wire["summary"]
    resource = wire["suggestions"][0]["actions"][0]["resource"]
    assert resource["resourceType"] == "ServiceRequest" and "risk assessment" in resource["code"]["text"]


def test_surgery_age_80_ignores_lumbar_surgery() -> None:
    """Lumbar fusion at 85 is not cervical spine surgery."""
    assert run("surgery-age-80", facts(age=85, pain=pain(150)), [order("tlif", *LUMBAR_FUSION)]) is None


# --------------------------------------------------------------------------- post-fusion-evaluation


@pytest.mark.parametrize(
    ("fusion_day", "key"),
    [
        (add_months(TODAY, -3) + timedelta(days=1), "early-post-op"),
        (add_months(TODAY, -3), "nonunion"),
        (add_months(TODAY, -24), "nonunion"),
        (add_months(TODAY, -24) - timedelta(days=1), "adjacent-segment"),
    ],
)
def test_post_fusion_evaluation_3_and_24_month_edges(fusion_day, key: str) -> None:
    """Under 3 months: defer to the surgeon; 3 to 24 months inclusive: nonunion; over 24 months: adjacent segment."""
    patient = facts(pain=pain(400), cervical_fusion=fusion_on(fusion_day))
    found = run("post-fusion-evaluation", patient, [order("ct", "imaging-ct-cervical-spine")])
    assert reason_keys(found) == [key]
    wire = card(found)
    assert_card_invariants(wire)
    assert "Procedure/acdf" in wire["detail"]


def test_post_fusion_evaluation_adjacent_segment_cites_rate() -> None:
    """Nine years after fusion the card names adjacent segment disease at about 2.9% per year."""
    patient = facts(pain=pain(120), cervical_fusion=fusion_on(add_months(TODAY, -108)))
    wire = card(run("post-fusion-evaluation", patient, [order("cbz", "muscle-relaxants-beers", rtype="MedicationRequest")]))
    assert "9 years" in wire["summary"] and "2.9%" in wire["summary"] and "Hilibrand" in wire["detail"]


@pytest.mark.parametrize(("pain_days", "fires"), [(83, False), (84, True)])
def test_post_fusion_evaluation_pain_12_week_edge(pain_days: int, fires: bool) -> None:
    """Pain must have lasted 12 weeks (84 days)."""
    patient = facts(pain=pain(pain_days), cervical_fusion=fusion_on(add_months(TODAY, -6)))
    assert (run("post-fusion-evaluation", patient, [order("oxy", "opioids", rtype="MedicationRequest")]) is not None) is fires


def test_post_fusion_evaluation_needs_in_scope_order_and_dated_fusion() -> None:
    """A PT referral is not a triggering order, and an undated fusion cannot be placed in time."""
    dated = facts(pain=pain(200), cervical_fusion=fusion_on(add_months(TODAY, -6)))
    assert run("post-fusion-evaluation", dated, [order("pt", *PT)]) is None
    assert run("post-fusion-evaluation", dated, [order("esi", *ESI_GUIDED)]) is not None
    undated = facts(pain=pain(200), cervical_fusion=fact("cervical-fusion", None, "Condition/z981"))
    assert run("post-fusion-evaluation", undated, [order("ct", "imaging-ct-cervical-spine")]) is None


# --------------------------------------------------------------------------- manipulation-after-fusion


def test_manipulation_after_fusion_suggests_pt_mobilization() -> None:
    """Chiropractic manipulation after cervical fusion: warning, removal and a PT referral noting no manipulation."""
    patient = facts(pain=pain(200), cervical_fusion=fact("cervical-fusion", 120, "Procedure/acdf"))
    wire = card(run("manipulation-after-fusion", patient, [order("chiro", *CHIRO)]))
    assert_card_invariants(wire)
    assert wire["indicator"] == "warning" and "cervical fusion" in wire["summary"]
    assert action_codes(wire) == [("delete", "ServiceRequest/chiro"), ("create", "91251008")]
    assert "no high-velocity spinal manipulation" in wire["suggestions"][0]["actions"][1]["resource"]["note"][0]["text"]


@pytest.mark.parametrize("risk", ["myelopathy", "instability", "osteoporosis", "anticoagulant"])
def test_manipulation_after_fusion_each_other_risk(risk: str) -> None:
    """Myelopathy, instability, osteoporosis or an anticoagulant each fire it."""
    found = run("manipulation-after-fusion", facts(pain=pain(30), **{risk: fact(risk, 100)}), [order("chiro", *CHIRO)])
    assert reason_keys(found) == [risk]


def test_manipulation_after_fusion_every_risk_on_one_card() -> None:
    """All five contraindications are listed as reasons and the summary stays under 140 characters."""
    risks = {k: fact(k, 30) for k in ("myelopathy", "instability", "osteoporosis", "anticoagulant")}
    patient = facts(pain=pain(200), cervical_fusion=fact("cervical-fusion", 400), **risks)
    found = run("manipulation-after-fusion", patient, [order("chiro", *CHIRO)])
    assert reason_keys(found) == ["cervical-fusion", "myelopathy", "instability", "osteoporosis", "anticoagulant"]
    assert len(card(found)["summary"]) < 140

def test_manipulation_after_fusion_silent_for_lumbar_fusion() -> None:
    """A lumbar fusion alone is not a contraindication to cervical manipulation here."""
    patient = facts(pain=pain(28), lumbar_fusion=fact("lumbar-fusion", 2000, "Procedure/tlif"))
    assert run("manipulation-after-fusion", patient, [order("chiro", *CHIRO)]) is None


def test_manipulation_after_fusion_matches_uncoded_chiropractic_referral() -> None:
    """An uncoded 'Referral to chiropractor' matches by text; a coded PT order mentioning chiropractic does not."""
    patient = facts(pain=pain(200), cervical_fusion=fact("cervical-fusion", 400))
    referral = order("ref", display="Referral to chiropractor", text="Referral to chiropractor")
    assert run("manipulation-after-fusion", patient, [referral]) is not None
    pt = order("pt", *PT, text="physical therapy, no chiropractic")
    assert run("manipulation-after-fusion", patient, [pt]) is None


# --------------------------------------------------------------------------- bed-rest


def test_bed_rest_by_code_and_by_text() -> None:
    """A SNOMED bed-rest order and an uncoded 'Bed rest x 7 days' order both fire one warning."""
    orders = [order("br", "bed-rest"), order("txt", display="Bed rest x 7 days", text="Bed rest x 7 days")]
    found = run("bed-rest", facts(pain=pain(7)), orders)
    assert [o.ref for o in found.orders] == ["ServiceRequest/br", "ServiceRequest/txt"]
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "warning" and "staying active" in wire["summary"]


def test_bed_rest_ignores_negations_and_classified_orders() -> None:
    """'No bed rest' text, a medication, and a coded PT order whose note mentions bed rest do not fire."""
    orders = [
        order("act", text="Activity as tolerated, no bed rest"),
        order("pt", *PT, text="PT; avoid bed rest"),
        order("med", rtype="MedicationRequest", text="bed rest kit"),
    ]
    assert run("bed-rest", facts(pain=pain(7)), orders) is None


# --------------------------------------------------------------------------- thresholds are content params


@pytest.mark.parametrize(
    ("rule_id", "patient", "orders", "override"),
    [
        ("surgery-age-80", facts(age=76, pain=pain(100)), [order("acdf", *ACDF)], {"age_min": 75}),
        ("trigger-point-injection", facts(pain=pain(60)), [order("tpi", *TPI)], {"pain_weeks_min": 8}),
        ("interventional-axial-pain", facts(pain=pain(60)), [order("rfa", *RFA)], {"pain_weeks_min": 8}),
        ("imaging-without-red-flags", facts(pain=pain(50), physical_therapy=pt_days(20)), [order("mri", "imaging-mri-cervical-spine")], {"pain_weeks_max": 8}),
    ],
)
def test_thresholds_come_from_content_params(rule_id: str, patient, orders, override: dict) -> None:
    """Each rule is silent with the bundled threshold and fires when the content param is tuned."""
    assert run(rule_id, patient, orders) is None
    assert run(rule_id, patient, orders, **override) is not None
