"""Vignettes 2, 4 and 9 through the HTTP service: which imaging/procedure rules fire, and which do not."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import ICD10, condition, hook_body, medication_order, observation, patient, procedure, service_order, topics
from tests.contract.invariants import assert_response_invariants

SELECT = "/cds-services/neck-pain-order-select"
SIGN = "/cds-services/neck-pain-order-sign"
SNOMED = "http://snomed.info/sct"
MY_RULES = {
    "imaging-without-red-flags", "imaging-modality", "red-flag-urgent", "physical-therapy-first",
    "interventional-axial-pain", "epidural-radicular", "trigger-point-injection", "surgery-before-conservative-care",
    "fusion-for-axial-pain", "surgery-age-80", "post-fusion-evaluation", "manipulation-after-fusion", "bed-rest",
}


def temperature(celsius: float, days: int) -> dict[str, Any]:
    reading = observation("8310-5", "Body temperature", celsius, "Cel", "temp", days)
    reading["code"]["text"] = "Body temperature"
    return reading


def mine(body: dict[str, Any]) -> dict[str, str]:
    """rule id → indicator, for this module's rules only (medication rules are tested elsewhere)."""
    assert_response_invariants(body)
    return {rule: indicator for rule, indicator in topics(body).items() if rule in MY_RULES}


def card_of(body: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(c for c in body["cards"] if c["source"]["topic"]["code"] == rule)


VIGNETTE_2 = [
    patient(66),
    condition("M62.830", "Muscle spasm of back", 28, "spasm"),
    procedure("22633", "Arthrodesis, combined posterior/posterolateral and interbody, lumbar", 3000, "tlif"),
    procedure("22634", "Arthrodesis, each additional interspace, lumbar", 3000, "tlif2"),
    procedure("72125", "CT cervical spine without contrast", 10, "ct"),
]
VIGNETTE_2_ORDERS = [
    service_order("72141", "MRI cervical spine without contrast", "mri-c"),
    service_order("72146", "MRI thoracic spine without contrast", "mri-t"),
    service_order("98941", "Chiropractic manipulative treatment; spinal, 3-4 regions", "chiro"),
]


def test_vignette_2_prior_lumbar_fusion_two_mris(shared_client: TestClient) -> None:
    """V2: both MRIs in one imaging-without-red-flags card, recent CT flagged, PT first; lumbar fusion is no manipulation contraindication."""
    body = shared_client.post(SELECT, json=hook_body(VIGNETTE_2, VIGNETTE_2_ORDERS, selections=["ServiceRequest/mri-c", "ServiceRequest/mri-t"])).json()
    assert mine(body) == {"imaging-without-red-flags": "warning", "imaging-modality": "info", "physical-therapy-first": "info"}
    imaging = card_of(body, "imaging-without-red-flags")
    deleted = [a["resourceId"] for a in imaging["suggestions"][0]["actions"] if a["type"] == "delete"]
    assert deleted == ["ServiceRequest/mri-c", "ServiceRequest/mri-t"]
    swap = [(a["type"], a.get("resourceId") or a["resource"]["id"]) for a in imaging["suggestions"][1]["actions"]]
    assert swap == [("update", "mri-c"), ("delete", "ServiceRequest/mri-t")]  # the alternative: one referral, not two
    assert "Procedure/ct" in card_of(body, "imaging-modality")["detail"]


def test_vignette_2_signing_with_chiropractic_still_no_manipulation_card(shared_client: TestClient) -> None:
    """V2 at signing (chiropractic evaluated too): manipulation-after-fusion stays silent for a lumbar fusion."""
    body = shared_client.post(SIGN, json=hook_body(VIGNETTE_2, VIGNETTE_2_ORDERS, hook="order-sign")).json()
    assert "manipulation-after-fusion" not in mine(body)
    assert "imaging-without-red-flags" in mine(body)


def test_vignette_4_infection_red_flag(shared_client: TestClient) -> None:
    """V4: fever 38.6 °C and MSSA bacteremia 6 weeks ago → red-flag-urgent (critical) naming both; no imaging or PT card."""
    resources = [
        patient(70),
        temperature(38.6, 1),
        condition("R78.81", "Bacteremia", 42, "bac"),
        condition("B95.61", "Methicillin susceptible Staphylococcus aureus infection", 42, "mssa"),
        condition("M54.2", "Cervicalgia", 3, "neck"),
    ]
    orders = [service_order("72040", "XR cervical spine 2-3 views", "xr"), medication_order("197943", "Methocarbamol 500 MG Oral Tablet", "meth")]
    body = shared_client.post(SIGN, json=hook_body(resources, orders, hook="order-sign")).json()
    assert mine(body) == {"red-flag-urgent": "critical"}
    card = card_of(body, "red-flag-urgent")
    assert "bacteremia" in card["summary"] and "fever" in card["summary"]
    for ref in ("Observation/temp", "Condition/bac", "Condition/mssa"):
        assert ref in card["detail"]
    created = [a["resource"]["code"]["coding"][0]["code"] for a in card["suggestions"][0]["actions"]]
    assert created == ["72156", "4537-7", "1988-5"]


NECK_STRAIN = [patient(45), condition("S16.1XXA", "Strain of muscle, fascia and tendon at neck level, initial encounter", 7, "strain")]
VIGNETTE_9A_ORDERS = [
    medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "cbz", days=7, per_day=3),
    medication_order("197805", "Ibuprofen 400 MG Oral Tablet", "ibu", days=7, per_day=3),
    service_order("97161", "Physical therapy evaluation: low complexity", "pt"),
]


def test_vignette_9a_negative_control(shared_client: TestClient) -> None:
    """V9a: one week of neck strain, relaxant, NSAID and PT referral: none of these rules fires."""
    body = shared_client.post(SIGN, json=hook_body(NECK_STRAIN, VIGNETTE_9A_ORDERS, hook="order-sign")).json()
    assert mine(body) == {}


def test_vignette_9b_bed_rest_and_mri(shared_client: TestClient) -> None:
    """V9b: adding bed rest and an MRI gives bed-rest and imaging-without-red-flags warnings only."""
    orders = VIGNETTE_9A_ORDERS + [
        service_order("229566006", "Bed rest", "rest", system=SNOMED),
        service_order("72141", "MRI cervical spine without contrast", "mri"),
    ]
    body = shared_client.post(SIGN, json=hook_body(NECK_STRAIN, orders, hook="order-sign")).json()
    assert mine(body) == {"bed-rest": "warning", "imaging-without-red-flags": "warning"}
    assert [s["label"] for s in card_of(body, "imaging-without-red-flags")["suggestions"]] == ["Cancel the imaging order"]


def test_vignette_9b_bed_rest_written_as_text(shared_client: TestClient) -> None:
    """An uncoded 'Bed rest for 7 days' order is recognised by text."""
    rest = service_order("x-local-1", "Bed rest for 7 days", "rest", system="http://example.org/local-orders")
    body = shared_client.post(SELECT, json=hook_body(NECK_STRAIN, VIGNETTE_9A_ORDERS + [rest], selections=["ServiceRequest/rest"])).json()
    assert mine(body) == {"bed-rest": "warning"}


def test_vignette_9c_out_of_scope(shared_client: TestClient) -> None:
    """V9c: hypertension only, cyclobenzaprine ordered: no cards at all."""
    resources = [patient(50), condition("I10", "Essential hypertension", 400, "htn", system=ICD10)]
    orders = [medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "cbz")]
    assert shared_client.post(SIGN, json=hook_body(resources, orders, hook="order-sign")).json() == {"cards": []}
