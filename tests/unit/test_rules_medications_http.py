"""Medication cards over HTTP for the vignettes of vignettes.md (1, 3, 4, 5, 8, 9a): which medication
rules fire with which indicator, and which do not (other rules' cards are not checked here)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import (
    RXNORM,
    UCUM,
    concept,
    condition,
    days_ago,
    hook_body,
    medication_order,
    observation,
    patient,
    procedure,
    service_order,
    topics,
)
from tests.contract.invariants import assert_response_invariants
from tests.unit.rules_support import MEDICATION_RULES

SIGN_URL = "/cds-services/neck-pain-order-sign"


def egfr_observation(value: float, oid: str = "egfr1", days: int = 20) -> dict[str, Any]:
    return observation("98979-8", "eGFR (CKD-EPI 2021)", value, "mL/min/{1.73_m2}", oid, days)


def temperature(celsius: float, oid: str = "t1", days: int = 1) -> dict[str, Any]:
    return observation("8310-5", "Body temperature", celsius, "Cel", oid, days)


def active_medication(rxcui: str, display: str, mid: str, started_days: int, dose_mg: float | None = None) -> dict[str, Any]:
    """An active MedicationStatement taken daily since ``started_days`` ago."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": mid,
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": concept(RXNORM, rxcui, display),
        "effectivePeriod": {"start": days_ago(started_days)},
    }
    if dose_mg is not None:
        resource["dosage"] = [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}],
            }
        ]
    return resource


def medication_cards(client: TestClient, resources: list[dict[str, Any]], orders: list[dict[str, Any]]) -> dict[str, str]:
    """Sign the orders; the medication rules' cards as rule id → indicator (response invariants checked)."""
    response = client.post(SIGN_URL, json=hook_body(resources, orders, hook="order-sign"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_response_invariants(body)
    return {rule: indicator for rule, indicator in topics(body).items() if rule in MEDICATION_RULES}


def test_vignette_1_elderly_after_cervical_fusion(shared_client: TestClient) -> None:
    """82 y after ACDF, apixaban, eGFR 48: both muscle relaxant warnings and nsaid-risk warning (anticoagulant)."""
    resources = [
        patient(82),
        condition("M54.6", "Pain in thoracic spine", onset_days=120, cid="c1"),
        condition("M62.830", "Muscle spasm of back", onset_days=120, cid="c2"),
        procedure("22551", "Anterior cervical discectomy and fusion", 9 * 365, "pr1"),
        active_medication("1364445", "apixaban 5 MG Oral Tablet", "ms1", started_days=400),
        egfr_observation(48),
    ]
    orders = [
        medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "m1", days=30, per_day=3),
        medication_order("197806", "Ibuprofen 600 MG Oral Tablet", "m2", days=10, per_day=3),
        service_order("20553", "Trigger point injection, 3 or more muscles", "s1"),
    ]
    assert medication_cards(shared_client, resources, orders) == {
        "muscle-relaxant-older-adult": "warning",
        "muscle-relaxant-duration": "warning",
        "nsaid-risk": "warning",
    }


def test_vignette_1_cards_offer_fhir_actions(shared_client: TestClient) -> None:
    """Vignette 1: the duration card updates the cyclobenzaprine draft to 14 days; the NSAID card names apixaban."""
    resources = [
        patient(82),
        condition("M54.6", "Pain in thoracic spine", onset_days=120),
        active_medication("1364445", "apixaban 5 MG Oral Tablet", "ms1", started_days=400),
        egfr_observation(48),
    ]
    orders = [
        medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "m1", days=30, per_day=3),
        medication_order("197806", "Ibuprofen 600 MG Oral Tablet", "m2", days=10, per_day=3),
    ]
    body = shared_client.post(SIGN_URL, json=hook_body(resources, orders, hook="order-sign")).json()
    cards = {c["source"]["topic"]["code"]: c for c in body["cards"]}
    limit = cards["muscle-relaxant-duration"]["suggestions"][0]
    (action,) = limit["actions"]
    assert action["type"] == "update" and action["resource"]["id"] == "m1"
    assert action["resource"]["dispenseRequest"]["expectedSupplyDuration"]["value"] == 14
    nsaid = cards["nsaid-risk"]
    assert "MedicationStatement/ms1" in nsaid["detail"] and "apixaban" in nsaid["detail"]
    assert "Ibuprofen 600 MG Oral Tablet" in nsaid["detail"]


def test_vignette_3_recent_fusion_oxycodone(shared_client: TestClient) -> None:
    """74 y, no NSAID/acetaminophen on record, oxycodone q6h for 30 days: opioid-first-line and opioid-risk warnings."""
    resources = [
        patient(74),
        condition("M54.2", "Cervicalgia", onset_days=210),
        procedure("22551", "Anterior cervical discectomy and fusion C5-C6", 120, "pr1"),
        procedure("97110", "Therapeutic exercises", 14, "pr2"),
    ]
    orders = [
        service_order("72125", "CT cervical spine without contrast", "s1"),
        medication_order("1049621", "Oxycodone Hydrochloride 5 MG Oral Tablet", "m1", days=30, per_day=4),
        service_order("98940", "Chiropractic manipulative treatment, spinal, 1-2 regions", "s2"),
    ]
    assert medication_cards(shared_client, resources, orders) == {"opioid-first-line": "warning", "opioid-risk": "warning"}


def test_vignette_4_infection_red_flag_methocarbamol(shared_client: TestClient) -> None:
    """70 y with fever and recent S. aureus bacteremia: methocarbamol still gets the Beers warning."""
    resources = [
        patient(70),
        condition("M54.2", "Cervicalgia", onset_days=5, cid="c1"),
        condition("R78.81", "Bacteremia", onset_days=42, cid="c2"),
        condition("B95.61", "Methicillin susceptible Staphylococcus aureus infection", onset_days=42, cid="c3"),
        temperature(38.6),
    ]
    orders = [
        service_order("72040", "X-ray cervical spine, 2 or 3 views", "s1"),
        medication_order("197943", "Methocarbamol 500 MG Oral Tablet", "m1", days=7, per_day=3),
    ]
    assert medication_cards(shared_client, resources, orders) == {"muscle-relaxant-older-adult": "warning"}


def test_vignette_5_fracture_risk_cyclobenzaprine(shared_client: TestClient) -> None:
    """67 y on chronic prednisone with osteoporosis: cyclobenzaprine 5 mg TID for 7 days → only the Beers warning."""
    resources = [
        patient(67),
        condition("M54.6", "Pain in thoracic spine", onset_days=20, cid="c1"),
        condition("M81.0", "Age-related osteoporosis", onset_days=800, cid="c2"),
        active_medication("312617", "Prednisone 5 MG Oral Tablet", "ms1", started_days=425, dose_mg=7.5),
    ]
    orders = [
        service_order("72070", "X-ray thoracic spine, 2 views", "s1"),
        medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "m1", days=7, per_day=3),
    ]
    assert medication_cards(shared_client, resources, orders) == {"muscle-relaxant-older-adult": "warning"}


def test_vignette_8_polypharmacy(shared_client: TestClient) -> None:
    """71 y, falls, hydrocodone/APAP and alprazolam active, eGFR 45: diazepam is critical, gabapentin a warning."""
    resources = [
        patient(71),
        condition("M54.2", "Cervicalgia", onset_days=60, cid="c1"),
        condition("Z91.81", "History of falling", onset_days=200, cid="c2"),
        active_medication("857002", "Acetaminophen 325 MG / Hydrocodone Bitartrate 5 MG Oral Tablet", "ms1", started_days=200),
        active_medication("308048", "Alprazolam 0.5 MG Oral Tablet", "ms2", started_days=300),
        egfr_observation(45),
    ]
    orders = [
        medication_order("310431", "gabapentin 300 MG Oral Capsule", "m1", days=30, per_day=3),
        medication_order("197591", "Diazepam 5 MG Oral Tablet", "m2", days=7, per_day=2),
    ]
    assert medication_cards(shared_client, resources, orders) == {
        "benzodiazepine-for-spasm": "critical",
        "gabapentinoid-check": "warning",
    }


def test_vignette_9a_negative_control(shared_client: TestClient) -> None:
    """45 y neck strain, cyclobenzaprine 5 mg TID for 7 days and ibuprofen 400 mg TID with a PT referral: no medication card."""
    resources = [patient(45), condition("S16.1XXA", "Strain of muscle and tendon at neck level", onset_days=7)]
    orders = [
        medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet", "m1", days=7, per_day=3),
        medication_order("197805", "Ibuprofen 400 MG Oral Tablet", "m2", days=7, per_day=3),
        service_order("97161", "Physical therapy evaluation, low complexity", "s1"),
    ]
    assert medication_cards(shared_client, resources, orders) == {}
