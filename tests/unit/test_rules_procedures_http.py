"""Vignettes 1, 3, 6 and 7 through the HTTP service: which procedure/surgery rules fire, and which do not."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cds_service.facts.dates import add_months
from tests.conftest import TODAY, condition, hook_body, medication_order, patient, procedure, service_order
from tests.unit.test_rules_imaging_http import SIGN, card_of, mine


def months_ago(months: int) -> int:
    """Days back to the same calendar day ``months`` months ago."""
    return (TODAY - add_months(TODAY, -months)).days


def sign(client: TestClient, resources: list, orders: list) -> dict:
    response = client.post(SIGN, json=hook_body(resources, orders, hook="order-sign"))
    assert response.status_code == 200
    return response.json()


def test_vignette_1_elderly_woman_years_after_fusion(shared_client: TestClient) -> None:
    """V1: 9 years after ACDF, 4 months of pain: post-fusion (adjacent segment), trigger-point (info), PT first."""
    z981 = condition("Z98.1", "Arthrodesis status", months_ago(108), "z981")
    z981["bodySite"] = [{"text": "Cervical spine"}]
    resources = [
        patient(82),
        procedure("22551", "ACDF C5-C6", months_ago(108), "acdf"),
        procedure("22552", "ACDF each additional interspace", months_ago(108), "acdf2"),
        z981,
        condition("M54.6", "Pain in thoracic spine", months_ago(4), "pain"),
        condition("M62.830", "Muscle spasm of back", months_ago(4), "spasm"),
    ]
    orders = [
        medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "cbz", days=30, per_day=3),
        service_order("20553", "Trigger point injection(s); 3 or more muscles", "tpi"),
    ]
    body = sign(shared_client, resources, orders)
    assert mine(body) == {"trigger-point-injection": "info", "post-fusion-evaluation": "info", "physical-therapy-first": "info"}
    assert "adjacent segment" in card_of(body, "post-fusion-evaluation")["summary"]


def test_vignette_3_recent_fusion_persistent_pain(shared_client: TestClient) -> None:
    """V3: ACDF 4 months ago, PT in progress: nonunion work-up and manipulation warning; no imaging-without-red-flags."""
    resources = [
        patient(74),
        procedure("22551", "ACDF C5-C6", months_ago(4), "acdf"),
        condition("M54.2", "Cervicalgia", months_ago(7), "neck"),
        procedure("97110", "Therapeutic exercise", 14, "pt"),
    ]
    orders = [
        service_order("72125", "CT cervical spine without contrast", "ct"),
        medication_order("1049621", "Oxycodone hydrochloride 5 MG Oral Tablet", "oxy", days=30, per_day=4),
        service_order("98940", "Chiropractic manipulative treatment; spinal, 1-2 regions", "chiro"),
    ]
    body = sign(shared_client, resources, orders)
    assert mine(body) == {"post-fusion-evaluation": "info", "manipulation-after-fusion": "warning"}
    assert "nonunion" in card_of(body, "post-fusion-evaluation")["summary"]


def radiculopathy_patient() -> list:
    return [
        patient(58),
        condition("M50.122", "Cervical disc disorder at C5-C6 level with radiculopathy", 49, "radic"),
        procedure("72141", "MRI cervical spine without contrast", 21, "mri"),
        procedure("97161", "Physical therapy evaluation: low complexity", 42, "pt"),
    ]


def test_vignette_6a_image_guided_esi_is_info(shared_client: TestClient) -> None:
    """V6a: radiculopathy, MRI 3 weeks ago, PT 6 weeks ago, ESI 62321 → epidural-radicular (info)."""
    body = sign(shared_client, radiculopathy_patient(), [service_order("62321", "Interlaminar epidural injection, cervical, with imaging guidance", "esi")])
    assert mine(body) == {"epidural-radicular": "info"}


def test_vignette_6b_unguided_esi_is_warning(shared_client: TestClient) -> None:
    """V6b: ESI 62320 (no image guidance) → epidural-radicular (warning) offering 62321."""
    body = sign(shared_client, radiculopathy_patient(), [service_order("62320", "Interlaminar epidural injection, cervical, without imaging guidance", "esi")])
    assert mine(body) == {"epidural-radicular": "warning"}
    card = card_of(body, "epidural-radicular")
    assert "not image-guided" in card["summary"]
    assert card["suggestions"][0]["actions"][1]["resource"]["code"]["coding"][0]["code"] == "62321"


def test_vignette_6c_axial_pain_rfa_is_warning(shared_client: TestClient) -> None:
    """V6c: axial neck pain for 8 months without radiculopathy, RFA 64633 → interventional-axial-pain (warning)."""
    resources = [patient(58), condition("M54.2", "Cervicalgia", months_ago(8), "neck"), procedure("97161", "PT evaluation", 42, "pt")]
    body = sign(shared_client, resources, [service_order("64633", "Radiofrequency ablation, cervical or thoracic facet joint", "rfa")])
    assert mine(body) == {"interventional-axial-pain": "warning"}


def test_vignette_7_octogenarian_fusion_request(shared_client: TestClient) -> None:
    """V7: 83 y, axial pain 5 months, 8 weeks of PT, ACDF ordered → fusion-for-axial-pain and surgery-age-80, not surgery-before-conservative-care."""
    resources = [
        patient(83),
        condition("M54.2", "Cervicalgia", months_ago(5), "neck"),
        condition("M47.812", "Spondylosis without myelopathy or radiculopathy, cervical region", months_ago(5), "spond"),
        procedure("97110", "Therapeutic exercise", 56, "pt"),
    ]
    body = sign(shared_client, resources, [service_order("22551", "Anterior cervical discectomy and fusion, C5-C6", "acdf")])
    assert mine(body) == {"fusion-for-axial-pain": "warning", "surgery-age-80": "warning"}
    consult = card_of(body, "surgery-age-80")["suggestions"][0]["actions"][0]
    assert consult["type"] == "create" and consult["resource"]["resourceType"] == "ServiceRequest"
