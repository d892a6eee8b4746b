"""Physical therapy, a cervical fusion and prior spine CT/MRI in doubt, through the service: the rules that
need them absent stay silent, the rules that need them present still fire, and no new PT referral is
suggested when PT on record cannot be ruled out (in doubt, or the PT record unavailable)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.facts.model import SERVICE_REQUESTS
from tests.conftest import condition, days_ago, draft_order, hook_body, medication_order, patient, procedure, service_order
from tests.unit.test_procedure_doubts import LOCAL, SNOMED, coded, entry, imaging_study
from tests.unit.test_rules_imaging_http import SELECT, SIGN, card_of


def live(code: dict[str, Any], days: int, rid: str, **extra: Any) -> dict[str, Any]:
    """A record entry dated from the real today, as the service reads it."""
    return entry(code, days, rid, on=days_ago, **extra)


def call(
    client: TestClient,
    resources: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    hook: str = "order-select",
    missing: tuple[str, ...] = (),
) -> dict[str, Any]:
    body = hook_body(resources, orders, hook=hook)
    for key in missing:
        body["prefetch"].pop(key)
    response = client.post(SELECT if hook == "order-select" else SIGN, json=body)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def rules(body: dict[str, Any]) -> set[str]:
    return {c["source"]["topic"]["code"] for c in body["cards"]}


def ratings(body: dict[str, Any]) -> list[str]:
    return [
        e["valueCodeableConcept"]["coding"][0]["code"]
        for a in body.get("systemActions", [])
        for e in a["resource"].get("extension", [])
        if e["url"].endswith("pama-rating")
    ]


def suggestions(body: dict[str, Any], rule: str) -> list[str]:
    return [s["label"] for s in card_of(body, rule).get("suggestions", [])]


def pain(days: int) -> list[dict[str, Any]]:
    return [patient(50), condition("M54.2", "Cervicalgia", days, "pain")]


XRAY = service_order("72040", "X-ray cervical spine 2-3 views", "xr")
ACDF = service_order("22551", "Anterior cervical discectomy and fusion C5-C6", "acdf")
ESI = service_order("62321", "Interlaminar epidural injection cervical with imaging guidance", "esi")
RELAXANT = medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "cbz")
OXYCODONE = medication_order("1049621", "Oxycodone hydrochloride 5 MG Oral Tablet", "oxy")
RADICULOPATHY = condition("M54.12", "Radiculopathy, cervical region", 40, "rad")
PT_TEXT = live({"text": "Physical therapy for neck pain, 8 sessions"}, 50, "pt1")
PT_REFERRAL_LOCAL = draft_order("ServiceRequest", "ptref", code=coded("REF-PT", LOCAL, "Ambulatory referral to Physical Therapy"))


def test_pt_as_text_silences_the_imaging_and_pt_cards(shared_client: TestClient) -> None:
    """Pain 60 days, PT as text 50 days ago, an X-ray: no imaging-without-red-flags, no physical-therapy-first, no rating."""
    body = call(shared_client, pain(60) + [PT_TEXT], [XRAY])
    assert rules(body) & {"imaging-without-red-flags", "physical-therapy-first"} == set()
    assert ratings(body) == []


def test_without_pt_the_imaging_card_fires_and_rates_not_appropriate(shared_client: TestClient) -> None:
    """Control: no PT of any kind, pain 60 days: imaging-without-red-flags and physical-therapy-first fire, rated not-appropriate."""
    body = call(shared_client, pain(60), [XRAY])
    assert {"imaging-without-red-flags", "physical-therapy-first"} <= rules(body)
    assert ratings(body) == ["not-appropriate"]


def test_pt_in_doubt_in_early_pain_drops_the_no_pt_reason_and_the_referral(shared_client: TestClient) -> None:
    """Pain 20 days and PT as text: the imaging card still fires for early pain, says nothing of PT and offers no referral."""
    body = call(shared_client, pain(20) + [live({"text": "Physical therapy"}, 10, "pt1")], [XRAY])
    card = card_of(body, "imaging-without-red-flags")
    assert "No physical therapy" not in card["detail"]
    assert suggestions(body, "imaging-without-red-flags") == ["Cancel the imaging order"]


def test_cpt_97530_silences_surgery_before_conservative_care(shared_client: TestClient) -> None:
    """CPT 97530 "Therapeutic activities" 50 days ago could be 7 weeks of PT: no "no PT" surgery card, no PT-first card."""
    body = call(shared_client, pain(60) + [procedure("97530", "Therapeutic activities", 50, "pt1")], [ACDF])
    assert rules(body) & {"surgery-before-conservative-care", "physical-therapy-first"} == set()


def test_surgery_without_pt_still_warns(shared_client: TestClient) -> None:
    """Control: no PT on record: surgery-before-conservative-care warns and offers a referral."""
    body = call(shared_client, pain(60), [ACDF])
    assert suggestions(body, "surgery-before-conservative-care") == ["Refer to physical therapy first"]


def test_a_drafted_local_pt_referral_counts_as_pt_that_could_be_planned(shared_client: TestClient) -> None:
    """At signing, a PT referral drafted under a local code: no "no PT" imaging card, no physical-therapy-first, no rating."""
    body = call(shared_client, pain(60), [XRAY, PT_REFERRAL_LOCAL], hook="order-sign")
    assert rules(body) & {"imaging-without-red-flags", "physical-therapy-first"} == set()
    assert ratings(body) == []


@pytest.mark.parametrize("fusion", [
    live({"text": "Anterior cervical discectomy and fusion C5-C6"}, 400, "fx"),
    live(coded("55705006", SNOMED, "Spinal fusion"), 400, "fx"),
])  # fmt: skip
def test_a_fusion_in_doubt_silences_imaging_without_red_flags(shared_client: TestClient, fusion: dict[str, Any]) -> None:
    """A cervical fusion as text, or a spinal fusion of untold region: no "no cervical fusion" imaging card and no rating."""
    body = call(shared_client, pain(100) + [fusion], [XRAY])
    assert "imaging-without-red-flags" not in rules(body)
    assert ratings(body) == []


def test_an_ankle_arthrodesis_leaves_imaging_without_red_flags(shared_client: TestClient) -> None:
    """Control: an arthrodesis of the ankle is no cervical fusion: the imaging card fires, not-appropriate."""
    body = call(shared_client, pain(100) + [live({"text": "Arthrodesis of ankle"}, 400, "fx")], [XRAY])
    assert "imaging-without-red-flags" in rules(body) and ratings(body) == ["not-appropriate"]


def test_a_later_fusion_in_doubt_silences_post_fusion_evaluation(shared_client: TestClient) -> None:
    """ACDF 3 years ago and a fusion as text 2 months ago: the advice depends on the latest fusion, so no post-fusion card."""
    old = procedure("22551", "ACDF C5-C6", 1100, "acdf")
    body = call(shared_client, pain(400) + [old, live({"text": "Revision cervical fusion C4-C5"}, 60, "fx")], [XRAY])
    assert "post-fusion-evaluation" not in rules(body)
    earlier = call(shared_client, pain(400) + [old, live({"text": "Cervical fusion C4-C5"}, 1500, "fx")], [XRAY])
    assert "adjacent segment" in card_of(earlier, "post-fusion-evaluation")["summary"]


@pytest.mark.parametrize("study", [imaging_study(on=days_ago), live({"text": "MRI cervical spine without contrast"}, 60, "im1")])
def test_a_prior_mri_in_doubt_silences_the_no_imaging_warning(shared_client: TestClient, study: dict[str, Any]) -> None:
    """An MRI of the cervical spine 60 days ago, not understood: no epidural-radicular "no MRI/CT confirms" warning."""
    body = call(shared_client, pain(40) + [RADICULOPATHY, study], [ESI])
    assert "epidural-radicular" not in rules(body)


@pytest.mark.parametrize("study", [None, live({"text": "X-ray cervical spine"}, 60, "im1")])
def test_without_ct_or_mri_the_epidural_card_warns(shared_client: TestClient, study: dict[str, Any] | None) -> None:
    """Control: no study, or only a radiograph: epidural-radicular warns that no MRI/CT confirms root compression."""
    body = call(shared_client, pain(40) + [RADICULOPATHY] + ([study] if study else []), [ESI])
    assert "no MRI/CT confirms root compression" in card_of(body, "epidural-radicular")["summary"]


@pytest.mark.parametrize(("rule", "order"), [("muscle-relaxant-older-adult", RELAXANT), ("opioid-first-line", OXYCODONE)])
def test_no_pt_referral_when_the_pt_record_is_unavailable(shared_client: TestClient, rule: str, order: dict[str, Any]) -> None:
    """Procedures and serviceRequests unavailable: the medication card offers to cancel the order, not a PT referral."""
    resources = [patient(70), condition("M54.2", "Cervicalgia", 20, "pain")]
    body = call(shared_client, resources, [order], missing=("procedures", SERVICE_REQUESTS))
    assert suggestions(body, rule) and not any("physical therapy" in s for s in suggestions(body, rule))
    assert "Not available from the record" in card_of(body, rule)["detail"]


@pytest.mark.parametrize(("rule", "order"), [("muscle-relaxant-older-adult", RELAXANT), ("opioid-first-line", OXYCODONE)])
def test_no_pt_referral_when_pt_is_in_doubt(shared_client: TestClient, rule: str, order: dict[str, Any]) -> None:
    """PT as text on record: the medication card offers no new PT referral; without it, it does."""
    resources = [patient(70), condition("M54.2", "Cervicalgia", 20, "pain")]
    doubted = call(shared_client, resources + [live({"text": "Physiotherapy neck"}, 10, "pt1")], [order])
    assert not any("physical therapy" in s for s in suggestions(doubted, rule))
    plain = call(shared_client, resources, [order])
    assert any("physical therapy" in s for s in suggestions(plain, rule))


def test_manipulation_suggests_no_referral_without_the_pt_record(shared_client: TestClient) -> None:
    """Manipulation with osteoporosis, serviceRequests unavailable: cancel only, no PT (mobilization) referral; offered when read."""
    resources = [patient(60), condition("M54.2", "Cervicalgia", 20, "pain"), condition("M81.0", "Osteoporosis", 400, "op")]
    chiro = service_order("98940", "Chiropractic manipulative treatment; spinal, 1-2 regions", "chiro")
    body = call(shared_client, resources, [chiro], missing=(SERVICE_REQUESTS,))
    assert suggestions(body, "manipulation-after-fusion") == ["Cancel the manipulation order"]
    read = call(shared_client, resources, [chiro])
    assert suggestions(read, "manipulation-after-fusion") == ["Cancel manipulation and refer to physical therapy for gentle mobilization"]
