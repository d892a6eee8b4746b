"""What a clinician reads: each card's wording, numbers and citations match the record and the claim."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.fixtures import REQUESTS, fixture_names, hook_request
from cds_service.rules import suggest
from tests.conftest import condition, hook_body, medication_order, patient, procedure
from tests.unit.rules_support import CYCLOBENZAPRINE_5, MED_TODAY, med_order
from tests.vignettes.cases import SERVICE_FOR_HOOK

SELECT = "/cds-services/neck-pain-order-select"
POST_FUSION = "post-fusion-evaluation"
HILIBRAND = "Hilibrand"
PT_REFERRAL = "91251008"


def cards_for(client: TestClient, name: str) -> dict[str, dict[str, Any]]:
    """A fixture request's cards by rule id."""
    body = hook_request(name)
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.text
    return {c["source"]["topic"]["code"]: c for c in response.json()["cards"]}


def post_fusion(client: TestClient, fusion_days: int, pain_days: int = 126) -> dict[str, Any] | None:
    """The post-fusion card for a cervical fusion ``fusion_days`` ago and neck pain since ``pain_days`` ago."""
    record = [
        patient(70),
        condition("M54.2", "Cervicalgia", onset_days=pain_days),
        procedure("22551", "Arthrodesis, anterior interbody, cervical below C2", fusion_days, "fusion"),
    ]
    body = hook_body(record, [medication_order("1049621", "Oxycodone Hydrochloride 5 MG Oral Tablet")])
    cards = client.post(SELECT, json=body).json()["cards"]
    return next((c for c in cards if c["source"]["topic"]["code"] == POST_FUSION), None)


def citations(card: dict[str, Any]) -> str:
    return " ".join([card["source"]["label"], *(link["label"] for link in card.get("links") or [])])


def test_pain_after_a_fusion_is_counted_from_the_operation(shared_client: TestClient) -> None:
    """Pain since 18 weeks with a fusion 11 weeks ago has persisted 11 weeks after it: under 12, no card."""
    assert post_fusion(shared_client, fusion_days=77) is None


def test_the_card_states_the_weeks_since_the_fusion(shared_client: TestClient) -> None:
    """With the fusion 14 weeks ago the card says about 14 weeks (not the 18 since onset), that the pain began before, and cites Leven & Cho."""
    card = post_fusion(shared_client, fusion_days=100)
    assert card is not None
    assert "persisted about 14 weeks" in card["detail"] and "18 weeks" not in card["detail"]
    assert "began before the fusion" in card["detail"]
    assert "Leven" in card["source"]["label"] and HILIBRAND not in citations(card)


def test_the_defer_to_the_surgeon_card_does_not_cite_adjacent_segment_disease(shared_client: TestClient) -> None:
    """Within 3 months of surgery the card defers to the surgeon and cites neither Hilibrand nor adjacent-segment disease."""
    card = post_fusion(shared_client, fusion_days=88)
    assert card is not None and "surgeon" in card["summary"]
    assert HILIBRAND not in citations(card) and "adjacent" not in card["detail"].lower()


def test_adjacent_segment_disease_cites_hilibrand(shared_client: TestClient) -> None:
    """Years after the fusion the card is about adjacent segment disease and its source is Hilibrand."""
    card = cards_for(shared_client, "v1-order-sign")[POST_FUSION]
    assert HILIBRAND in card["source"]["label"] and "adjacent segment" in card["detail"]


def test_the_duplicate_imaging_card_cites_no_pseudarthrosis_paper(shared_client: TestClient) -> None:
    """The 'likely duplicate' imaging card (vignette 2) cites imaging criteria, not a paper on nonunion."""
    card = cards_for(shared_client, "v2-order-select")["imaging-modality"]
    assert "duplicate" in card["summary"].lower()
    assert "seudarthrosis" not in citations(card) and "Leven" not in citations(card)


def test_a_methocarbamol_course_card_does_not_cite_the_cyclobenzaprine_label(shared_client: TestClient) -> None:
    """A 30-day methocarbamol course is a long course; its card neither quotes nor cites the cyclobenzaprine label."""
    order = medication_order("197943", "Methocarbamol 500 MG Oral Tablet", days=30)
    body = hook_body([patient(50), condition("M54.2", "Cervicalgia", onset_days=10)], [order])
    card = next(c for c in shared_client.post(SELECT, json=body).json()["cards"] if c["source"]["topic"]["code"] == "muscle-relaxant-duration")
    assert "cyclobenzaprine" not in (card["detail"] + citations(card)).lower()


@pytest.mark.parametrize("name", fixture_names(REQUESTS))
def test_cards_carry_no_authoring_notes_markdown_links_or_repeated_source(shared_client: TestClient, name: str) -> None:
    """No card says how its content was decided, links from its markdown, or repeats its source in the detail."""
    for card in cards_for(shared_client, name).values():
        detail = card["detail"]
        assert "conflict" not in detail.lower()
        assert "](" not in detail.replace("\\](", "")
        assert card["source"]["label"] not in detail and "Source:" not in detail


@pytest.mark.parametrize("name", fixture_names(REQUESTS))
def test_at_most_one_physical_therapy_referral_per_response(shared_client: TestClient, name: str) -> None:
    """Accepting every suggestion never creates two PT referrals: one card offers it, the most severe of those that would."""
    cards = list(cards_for(shared_client, name).values())
    offering = [
        c
        for c in cards
        for s in c.get("suggestions") or []
        for a in s["actions"]
        if a["type"] == "create" and PT_REFERRAL in str(a.get("resource", {}).get("code"))
    ]
    assert len(offering) <= 1
    if offering:
        rank = {"info": 0, "warning": 1, "critical": 2}
        assert rank[offering[0]["indicator"]] == max(rank[c["indicator"]] for c in cards if c is offering[0] or "referral is offered on the card" in c["detail"])


def test_cards_that_lose_the_referral_name_the_card_that_offers_it(shared_client: TestClient) -> None:
    """In vignette 1 the Beers warning offers the referral; the PT-first card says so instead of offering another."""
    cards = cards_for(shared_client, "v1-order-sign")
    pt = cards["physical-therapy-first"]
    assert not pt.get("suggestions")
    assert f'offered on the card "{cards["muscle-relaxant-older-adult"]["source"]["topic"]["display"]}"' in pt["detail"]


def test_fever_evidence_is_worded_once(shared_client: TestClient) -> None:
    """The red-flag card writes a measured fever as 'Fever 38.6 °C', not the observation's name and the word again."""
    detail = cards_for(shared_client, "v4-order-sign")["red-flag-urgent"]["detail"]
    assert "Fever 38.6 °C" in detail and "Body temperature 38" not in detail and "Temperature Body" not in detail


def test_a_shortened_course_says_the_same_in_every_field(shared_client: TestClient) -> None:
    """'Limit the course to 14 days' updates the supply, the refills and the dosage text alike."""
    card = cards_for(shared_client, "v1-order-sign")["muscle-relaxant-duration"]
    action = next(a for s in card["suggestions"] for a in s["actions"] if a["type"] == "update")
    resource = action["resource"]
    assert resource["dispenseRequest"]["expectedSupplyDuration"]["value"] == 14
    assert resource["dispenseRequest"]["numberOfRepeatsAllowed"] == 0
    texts = [d["text"] for d in resource["dosageInstruction"]]
    assert texts and all("for 14 days" in t and "30 days" not in t for t in texts)


def test_limit_duration_rewrites_every_field_that_states_the_course() -> None:
    """Dosage text, patient instruction, notes and a dose count all follow the shortened course; the draft is not changed."""
    draft = med_order(CYCLOBENZAPRINE_5, days=30)
    dosage = draft.resource["dosageInstruction"][0]
    dosage.update(text="1 tablet three times daily x 30 days", patientInstruction="Take for 4 weeks")
    dosage["timing"]["repeat"]["count"] = 90
    draft.resource["note"] = [{"text": "Course for 30 days, then review"}]
    updated = suggest.limit_duration(draft, 14, MED_TODAY).resource
    assert updated is not None
    new = updated["dosageInstruction"][0]
    assert new["text"] == "1 tablet three times daily x 14 days" and new["patientInstruction"] == "Take for 14 days"
    assert "count" not in new["timing"]["repeat"] and new["timing"]["repeat"]["boundsDuration"]["value"] == 14
    assert updated["note"][0]["text"] == "Course for 14 days, then review"
    assert draft.resource["dosageInstruction"][0]["text"] == "1 tablet three times daily x 30 days"


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["dosageInstruction"][0].update(timing=[{}]),
        lambda r: r["dosageInstruction"][0].update(timing="daily"),
        lambda r: r.update(dosageInstruction={"text": "x 30 days"}),
        lambda r: r.update(dispenseRequest=[{"numberOfRepeatsAllowed": 2}]),
    ],
    ids=["timing a list", "timing a string", "dosageInstruction an object", "dispenseRequest a list"],
)
def test_limit_duration_takes_a_draft_of_any_shape(change: Any) -> None:
    """A draft whose parts have shapes validation repaired away still gets its course limited, never an error."""
    draft = med_order(CYCLOBENZAPRINE_5, days=30)
    change(draft.resource)
    updated = suggest.limit_duration(draft, 14, MED_TODAY).resource
    assert updated is not None and updated["dispenseRequest"]["expectedSupplyDuration"]["value"] == 14
