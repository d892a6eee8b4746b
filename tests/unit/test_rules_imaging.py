"""Imaging rules at their edges: imaging-without-red-flags, imaging-modality, red-flag-urgent, physical-therapy-first."""

from __future__ import annotations

import pytest

from cds_service.facts.model import DATA_KEYS, IMAGING, PROCEDURES, OBSERVATIONS
from tests.contract.invariants import assert_card_invariants
from tests.unit.rules_support import (
    action_codes,
    card,
    fact,
    facts,
    fired,
    flag,
    imaging,
    order,
    pain,
    reason_keys,
    run,
)

MRI_C = ("imaging-mri-cervical-spine", "imaging-mri-spine-without-contrast")
MRI_T = ("imaging-mri-thoracic-spine", "imaging-mri-spine-without-contrast")
CT_C = ("imaging-ct-cervical-spine",)
XR_C = ("imaging-xr-cervical-spine",)
PT = ("physical-therapy",)
OPIOID = ("opioids",)


def infection_flag():
    return flag("infection", fact("bacteremia", 42, "Condition/bac", "Bacteremia"), fact("fever", 1, "Observation/t", "Body temperature", value=38.6, unit="°C"))


# --------------------------------------------------------------------------- imaging-without-red-flags


@pytest.mark.parametrize(("pain_days", "fires"), [(41, True), (42, False)])
def test_imaging_without_red_flags_pain_6_week_edge(pain_days: int, fires: bool) -> None:
    """With PT on record, the card fires at 41 days of pain and not at 42 (6 weeks)."""
    patient = facts(pain=pain(pain_days), physical_therapy=(fact("physical-therapy", 30, "Procedure/pt"),))
    found = run("imaging-without-red-flags", patient, [order("mri", *MRI_C)])
    assert (found is not None) is fires
    if fires:
        assert reason_keys(found) == ["early-pain"]
        assert [s.key for s in found.suggestions] == ["remove"]


def test_imaging_without_red_flags_fires_after_6_weeks_without_pt() -> None:
    """At 42 days without PT on record it fires with the no-PT reason and suggests removal plus a PT referral."""
    found = run("imaging-without-red-flags", facts(pain=pain(42)), [order("mri", *MRI_C)])
    assert reason_keys(found) == ["no-pt"]
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "warning"
    assert action_codes(wire) == [("delete", "ServiceRequest/mri"), ("create", "91251008"), ("update", "91251008")]


def test_imaging_without_red_flags_states_both_reasons_in_early_pain_without_pt() -> None:
    """Early pain and no PT are both named on the card."""
    found = run("imaging-without-red-flags", facts(pain=pain(7)), [order("mri", *MRI_C)])
    assert reason_keys(found) == ["early-pain", "no-pt"]
    assert "Condition/pain" in card(found)["detail"]


def test_imaging_without_red_flags_drafted_pt_counts_as_pt_on_record() -> None:
    """A PT referral among the (unselected) drafts counts as PT planned: no card after 6 weeks."""
    referral = order("pt", *PT, selected=False)
    assert run("imaging-without-red-flags", facts(pain=pain(60)), [order("mri", *MRI_C), referral]) is None


@pytest.mark.parametrize(
    "extra",
    [
        {"red_flags": (flag("fracture-risk", fact("osteoporosis"), urgent=False),)},
        {"radiculopathy": fact("radiculopathy", 10)},
        {"myelopathy": fact("myelopathy", 10)},
        {"cervical_fusion": fact("cervical-fusion", 900, "Procedure/acdf")},
    ],
)
def test_imaging_without_red_flags_silent_with_flag_radiculopathy_myelopathy_or_fusion(extra: dict) -> None:
    """Any red flag (even fracture risk), radiculopathy, myelopathy or cervical fusion silences the card."""
    assert run("imaging-without-red-flags", facts(pain=pain(7), **extra), [order("mri", *MRI_C)]) is None


def test_imaging_without_red_flags_lists_every_imaging_order_in_one_card() -> None:
    """Two spine MRIs give one card listing both; the non-imaging order is not listed."""
    orders = [order("mri-c", *MRI_C), order("mri-t", *MRI_T), order("chiro", "spinal-manipulation")]
    found = run("imaging-without-red-flags", facts(pain=pain(28)), orders)
    assert [o.ref for o in found.orders] == ["ServiceRequest/mri-c", "ServiceRequest/mri-t"]


def test_imaging_without_red_flags_silent_when_red_flag_data_unreadable() -> None:
    """With observations unreadable (fever unknowable) the engine does not run the rule."""
    patient = facts(pain=pain(7), available=frozenset(DATA_KEYS) - {OBSERVATIONS})
    assert "imaging-without-red-flags" not in fired(patient, [order("mri", *MRI_C)])
    assert "imaging-without-red-flags" in fired(facts(pain=pain(7)), [order("mri", *MRI_C)])


# --------------------------------------------------------------------------- imaging-modality


def test_imaging_modality_a_mri_after_cervical_fusion() -> None:
    """(a) Cervical fusion and a cervical MRI without radiculopathy/myelopathy suggests radiographs ± CT."""
    patient = facts(pain=pain(120), cervical_fusion=fact("cervical-fusion", 3000, "Procedure/acdf"))
    found = run("imaging-modality", patient, [order("mri", *MRI_C), order("xr", *XR_C)])
    assert reason_keys(found) == ["fusion-mri"]
    assert [o.ref for o in found.orders] == ["ServiceRequest/mri"]
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "info" and "flexion/extension" in wire["summary"]


def test_imaging_modality_a_silent_with_radiculopathy() -> None:
    """(a) does not apply when radiculopathy is on record (MRI is the right study)."""
    patient = facts(pain=pain(120), cervical_fusion=fact("cervical-fusion", 3000), radiculopathy=fact("radiculopathy", 30))
    assert run("imaging-modality", patient, [order("mri", *MRI_C)]) is None


def test_imaging_modality_b_recent_ct_same_region() -> None:
    """(b) A cervical MRI after a cervical CT 10 days ago is a likely duplicate; the thoracic MRI is not."""
    patient = facts(pain=pain(28), imaging_history=(imaging("ct", "cervical", 10),))
    found = run("imaging-modality", patient, [order("mri-c", *MRI_C), order("mri-t", *MRI_T)])
    assert reason_keys(found) == ["recent-study"]
    assert [o.ref for o in found.orders] == ["ServiceRequest/mri-c"]
    assert found.reasons[0].data["days"] == 10
    assert "10 day(s) ago" in card(found)["detail"]


def test_imaging_modality_b_ignores_radiographs_and_old_studies() -> None:
    """(b) needs a CT/MRI order and a CT/MRI inside the recent window (facts.spine_imaging)."""
    recent = facts(pain=pain(28), imaging_history=(imaging("ct", "cervical", 10),))
    assert run("imaging-modality", recent, [order("xr", *XR_C)]) is None
    old = facts(pain=pain(200), imaging_history=(imaging("ct", "cervical", 91),))
    assert run("imaging-modality", old, [order("mri", *MRI_C)]) is None


@pytest.mark.parametrize(("neuro_days", "fires"), [(20, True), (5, False), (None, False)])
def test_imaging_modality_b_new_neurological_finding_justifies_repeat(neuro_days, fires: bool) -> None:
    """(b) Radiculopathy dated before the prior CT keeps the card; dated after it (or undated) silences it."""
    patient = facts(pain=pain(28), radiculopathy=fact("radiculopathy", neuro_days), imaging_history=(imaging("ct", "cervical", 10),))
    assert (run("imaging-modality", patient, [order("mri", *MRI_C)]) is not None) is fires


def test_imaging_modality_c_contrast_for_infection_flag() -> None:
    """(c) An infection red flag with a non-contrast MRI suggests replacing it with MRI without and with contrast."""
    patient = facts(pain=pain(3), red_flags=(infection_flag(),))
    found = run("imaging-modality", patient, [order("mri", *MRI_C)])
    assert reason_keys(found) == ["contrast"]
    wire = card(found)
    assert_card_invariants(wire)
    assert action_codes(wire) == [("delete", "ServiceRequest/mri"), ("create", "72156")]


def test_imaging_modality_c_thoracic_mri_gets_thoracic_contrast_study() -> None:
    """(c) A thoracic non-contrast MRI is replaced by the thoracic study (CPT 72157)."""
    patient = facts(pain=pain(3), red_flags=(flag("malignancy", fact("malignancy", 900)),))
    wire = card(run("imaging-modality", patient, [order("mri", *MRI_T)]))
    assert action_codes(wire) == [("delete", "ServiceRequest/mri"), ("create", "72157")]


def test_imaging_modality_c_not_for_neurological_flag() -> None:
    """(c) applies to infection/malignancy flags only; contrast MRI orders are never flagged."""
    neuro = facts(pain=pain(3), red_flags=(flag("neurological", fact("myelopathy", 30)),))
    assert run("imaging-modality", neuro, [order("mri", *MRI_C)]) is None
    infected = facts(pain=pain(3), red_flags=(infection_flag(),))
    assert run("imaging-modality", infected, [order("mri", "imaging-mri-cervical-spine")]) is None


def test_imaging_modality_reasons_are_separate() -> None:
    """(a) and (b) found together are two reasons on one card."""
    patient = facts(pain=pain(120), cervical_fusion=fact("cervical-fusion", 3000), imaging_history=(imaging("mri", "cervical", 30),))
    assert reason_keys(run("imaging-modality", patient, [order("mri", *MRI_C)])) == ["fusion-mri", "recent-study"]


# --------------------------------------------------------------------------- red-flag-urgent


def test_red_flag_urgent_names_each_flag_and_evidence() -> None:
    """Fever + bacteremia with an X-ray and methocarbamol: one critical card, both orders, flags and evidence named."""
    patient = facts(age=70, pain=pain(3), red_flags=(infection_flag(),))
    orders = [order("xr", *XR_C), order("methocarbamol", "muscle-relaxants-beers", rtype="MedicationRequest")]
    found = run("red-flag-urgent", patient, orders)
    assert [o.ref for o in found.orders] == ["ServiceRequest/xr", "MedicationRequest/methocarbamol"]
    wire = card(found, 70)
    assert_card_invariants(wire)
    assert wire["indicator"] == "critical"
    assert "recent bacteremia + fever" in wire["summary"] and "osteomyelitis" in wire["summary"]
    assert "Bacteremia" in wire["detail"] and "38.6 °C" in wire["detail"]
    assert "Condition/bac" in wire["detail"] and "Observation/t" in wire["detail"]
    assert action_codes(wire) == [("create", "72156"), ("create", "4537-7"), ("create", "1988-5")]
    created = [a["resource"] for a in wire["suggestions"][0]["actions"]]
    assert all(r["priority"] == "urgent" and r["subject"] == {"reference": "Patient/p1"} for r in created)


@pytest.mark.parametrize(("mri_days", "fires"), [(30, False), (31, True)])
def test_red_flag_urgent_mri_30_day_edge(mri_days: int, fires: bool) -> None:
    """A spine MRI 30 days ago silences the card; 31 days ago does not."""
    patient = facts(pain=pain(3), red_flags=(infection_flag(),), imaging_history=(imaging("mri", "thoracic", mri_days),))
    assert (run("red-flag-urgent", patient, [order("xr", *XR_C)]) is not None) is fires


def test_red_flag_urgent_silent_when_mri_drafted_and_not_for_ct() -> None:
    """An MRI among the drafts (even unselected) silences it; a recent CT does not count as MRI."""
    patient = facts(pain=pain(3), red_flags=(infection_flag(),))
    assert run("red-flag-urgent", patient, [order("xr", *XR_C), order("mri", *MRI_C, selected=False)]) is None
    with_ct = facts(pain=pain(3), red_flags=(infection_flag(),), imaging_history=(imaging("ct", "cervical", 2),))
    assert run("red-flag-urgent", with_ct, [order("xr", *XR_C)]) is not None


def test_red_flag_urgent_ignores_fracture_risk_and_unrelated_orders() -> None:
    """Non-urgent flags never fire it, and an order unrelated to the pain is not a trigger."""
    risk = facts(pain=pain(3), red_flags=(flag("fracture-risk", fact("osteoporosis"), urgent=False),))
    assert run("red-flag-urgent", risk, [order("xr", *XR_C)]) is None
    urgent = facts(pain=pain(3), red_flags=(infection_flag(),))
    assert run("red-flag-urgent", urgent, [order("statin", rtype="MedicationRequest")]) is None


def test_red_flag_urgent_summary_fits_with_every_flag() -> None:
    """With every urgent flag and sign at once the summary stays under 140 characters."""
    flags = (
        flag("neurological", fact("myelopathy", 30)),
        flag("infection", fact("bacteremia", 40), fact("spinal-infection", 20), fact("fever", 1, value=39.0, unit="°C")),
        flag("malignancy", fact("malignancy", 900)),
    )
    wire = card(run("red-flag-urgent", facts(pain=pain(3), red_flags=flags), [order("xr", *XR_C)]))
    assert len(wire["summary"]) < 140 and not wire["summary"].endswith("…")
    assert "myelopathy" in wire["summary"] and "cancer" in wire["summary"]


def test_red_flag_urgent_still_fires_when_imaging_studies_unreadable() -> None:
    """A server without ImagingStudy does not silence the critical card: that list only suppresses it."""
    patient = facts(pain=pain(3), red_flags=(infection_flag(),), available=frozenset(DATA_KEYS) - {IMAGING})
    assert "red-flag-urgent" in fired(patient, [order("xr", *XR_C)])


def test_red_flag_urgent_silent_when_procedures_unreadable() -> None:
    """If Procedures could not be read, an MRI already done cannot be excluded: the engine skips the rule."""
    patient = facts(pain=pain(3), red_flags=(infection_flag(),), available=frozenset(DATA_KEYS) - {PROCEDURES})
    assert "red-flag-urgent" not in fired(patient, [order("xr", *XR_C)])


# --------------------------------------------------------------------------- physical-therapy-first


def test_physical_therapy_first_fires_without_pt_and_red_flags() -> None:
    """An in-scope order with no PT on record or planned and no red flag suggests a recommended PT referral."""
    found = run("physical-therapy-first", facts(pain=pain(20)), [order("oxy", *OPIOID, rtype="MedicationRequest")])
    wire = card(found)
    assert_card_invariants(wire)
    assert wire["indicator"] == "info" and wire["suggestions"][0]["isRecommended"] is True
    assert action_codes(wire) == [("create", "91251008")]


@pytest.mark.parametrize(
    "extra",
    [
        {"physical_therapy": (fact("physical-therapy", 170, "Procedure/pt"),)},
        {"red_flags": (flag("fracture-risk", fact("osteoporosis"), urgent=False),)},
    ],
)
def test_physical_therapy_first_silent_with_pt_on_record_or_any_red_flag(extra: dict) -> None:
    """PT within the look-back, or a red flag of any kind, silences it."""
    assert run("physical-therapy-first", facts(pain=pain(20), **extra), [order("oxy", *OPIOID, rtype="MedicationRequest")]) is None


def test_physical_therapy_first_silent_when_pt_drafted() -> None:
    """A drafted PT referral counts as PT planned."""
    orders = [order("oxy", *OPIOID, rtype="MedicationRequest"), order("pt", *PT, selected=False)]
    assert run("physical-therapy-first", facts(pain=pain(20)), orders) is None
