"""Medication rules, shared parts: data needs, suggestions as valid FHIR, and rendering of every card within
the card invariants (the builders are in rules_support, prefixed med_)."""

from __future__ import annotations

import pytest

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.facts.model import DATA_KEYS, OBSERVATIONS
from cds_service.facts.orders import screen, validated_orders
from cds_service.fhir.parse import model_class
from cds_service.rules import REGISTRY
from cds_service.rules.engine import evaluate
from tests.conftest import RXNORM, draft_order
from tests.contract.invariants import assert_card_invariants
from tests.unit.rules_support import (
    BACLOFEN_10,
    CARISOPRODOL_350,
    CYCLOBENZAPRINE_5,
    CYCLOBENZAPRINE_10,
    CYCLOBENZAPRINE_ER_15,
    DIAZEPAM_5,
    DULOXETINE_30,
    GABAPENTIN_300,
    IBUPROFEN_600,
    MEDICATION_RULES,
    METHOCARBAMOL_500,
    OXYCODONE_5,
    PREDNISONE_20,
    card_json,
    med_condition,
    med_content,
    egfr,
    med_facts,
    indicator,
    med_order,
    med_params,
    med_run,
)


def test_every_medication_rule_is_registered_with_content() -> None:
    """Each medication rule id has a registered function and an active content file."""
    for rule_id in MEDICATION_RULES:
        assert rule_id in REGISTRY
        assert med_content().rules[rule_id].content.mode == "active"


@pytest.mark.parametrize(
    ("rule_id", "needed"),
    [
        ("baclofen-renal", {"patient", "observations"}),
        ("nsaid-risk", {"patient", "conditions", "medications", "observations"}),
        ("gabapentinoid-check", {"patient", "conditions", "medications", "observations"}),
        ("duloxetine-check", {"patient", "conditions", "observations"}),
        ("opioid-first-line", {"medications"}),
        ("opioid-risk", {"patient", "conditions", "medications"}),
        ("benzodiazepine-for-spasm", {"patient", "medications"}),
        ("systemic-corticosteroid", {"conditions", "medications"}),
    ],
)
def test_rules_declare_the_data_they_read(rule_id: str, needed: set[str]) -> None:
    """A rule declares every data key its facts come from (eGFR → observations, falls → conditions ...)."""
    assert REGISTRY[rule_id].needs == needed


def test_rule_is_silent_when_observations_could_not_be_read() -> None:
    """With observations unreadable the engine does not run baclofen-renal, even with an old low eGFR fact."""
    patient = med_facts(80, egfr=egfr(20), available=frozenset(DATA_KEYS) - {OBSERVATIONS})
    rule_params = {rid: med_params(rid) for rid in MEDICATION_RULES}
    found = evaluate(patient, (med_order(BACLOFEN_10),), rule_params)
    assert "baclofen-renal" not in {f.rule_id for f in found}
    found = evaluate(med_facts(80, egfr=egfr(20)), (med_order(BACLOFEN_10),), rule_params)
    assert "baclofen-renal" in {f.rule_id for f in found}


def test_medication_rules_are_silent_out_of_scope() -> None:
    """With no neck/upper-back condition and no spine order, no medication rule speaks."""
    patient = med_facts(80, pain=None, scope_conditions=(), scope_refs=frozenset())
    orders = (med_order(CYCLOBENZAPRINE_5, days=30), med_order(OXYCODONE_5, "m2", days=30))
    assert evaluate(patient, orders, {rid: med_params(rid) for rid in MEDICATION_RULES}) == []


def test_limit_duration_suggestions_are_valid_updates() -> None:
    """The 'limit' and 'shorten' updates are valid R4 MedicationRequests with the param days, no refills, no quantity."""
    relaxant = med_run("muscle-relaxant-duration", med_facts(45), med_order(CYCLOBENZAPRINE_5, days=30, refills=2))
    opioid = med_run("opioid-risk", med_facts(45), med_order(OXYCODONE_5, days=30))
    for found, key, days in ((relaxant, "limit", 14), (opioid, "shorten", 7)):
        assert found is not None
        suggestion = next(s for s in found.suggestions if s.key == key)
        assert suggestion.recommended
        (action,) = suggestion.actions
        assert action.type == "update" and action.resource is not None
        model_class("MedicationRequest").model_validate(action.resource)
        dispense = action.resource["dispenseRequest"]
        assert dispense["expectedSupplyDuration"]["value"] == days
        assert dispense["numberOfRepeatsAllowed"] == 0 and "quantity" not in dispense
        assert action.resource["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"]["value"] == days


@pytest.mark.parametrize(
    ("text", "route", "extended"),
    [
        ("Diclofenac sodium 1% topical gel", "topical", False),
        ("diclofenac 50 mg tablet", "oral", False),
        ("OxyContin ER 10 mg tablet", "oral", True),
        ("ibuprofen 600 mg", None, False),
    ],
)
def test_text_only_orders_get_route_and_extended_release_from_their_words(text: str, route: str | None, extended: bool) -> None:
    """A medication order with no known product code takes route and ER/LA from dose-form words in its text."""
    raw = draft_order("MedicationRequest", "t1", medicationCodeableConcept={"text": text})
    (built,) = validated_orders(screen([{"resource": raw}], None, med_content().index), med_content().index)
    assert built.medication is not None
    assert (built.medication.route, built.medication.extended_release) == (route, extended)


def test_product_codes_keep_the_product_route() -> None:
    """A known product code decides the route and ER flag, whatever the text says."""
    raw = draft_order(
        "MedicationRequest",
        "t2",
        medicationCodeableConcept={"coding": [{"system": RXNORM, "code": CYCLOBENZAPRINE_ER_15}], "text": "Amrix gel"},
    )
    (built,) = validated_orders(screen([{"resource": raw}], None, med_content().index), med_content().index)
    assert built.medication is not None
    assert (built.medication.route, built.medication.extended_release) == ("oral", True)


SCENARIOS: list[tuple[str, PatientFacts, tuple[DraftOrder, ...]]] = [
    ("systemic-corticosteroid", med_facts(50), (med_order(PREDNISONE_20),)),
    ("systemic-corticosteroid", med_facts(50, radiculopathy=med_condition("radiculopathy", "r1", "M54.12")), (med_order(PREDNISONE_20, days=15),)),
    ("opioid-first-line", med_facts(50), (med_order(OXYCODONE_5),)),
    ("opioid-risk", med_facts(50), (med_order(OXYCODONE_5, days=30),)),
    ("opioid-risk", med_facts(80, falls=med_condition("falls", "f1", "History of falling")), (med_order(OXYCODONE_5, days=30), med_order(DIAZEPAM_5, "m2"))),
    ("opioid-risk", med_facts(80, falls=med_condition("falls", "f1", "History of falling")), (med_order(OXYCODONE_5),)),
    ("muscle-relaxant-older-adult", med_facts(82), (med_order(CYCLOBENZAPRINE_5), med_order(METHOCARBAMOL_500, "m2"))),
    ("muscle-relaxant-duration", med_facts(82), (med_order(CYCLOBENZAPRINE_10, days=30), med_order(CARISOPRODOL_350, "m2"))),
    ("muscle-relaxant-duration", med_facts(30), (med_order(CARISOPRODOL_350),)),
    ("muscle-relaxant-duration", med_facts(70), (med_order(CYCLOBENZAPRINE_ER_15, per_day=1),)),
    ("muscle-relaxant-duration", med_facts(70), (med_order(CYCLOBENZAPRINE_10, per_day=1),)),
    ("baclofen-renal", med_facts(70, egfr=egfr(45)), (med_order(BACLOFEN_10),)),
    ("benzodiazepine-for-spasm", med_facts(40), (med_order(DIAZEPAM_5),)),
    ("benzodiazepine-for-spasm", med_facts(71), (med_order(DIAZEPAM_5), med_order(OXYCODONE_5, "m2", selected=False))),
    ("nsaid-risk", med_facts(80, egfr=egfr(20), heart_failure=med_condition("heart-failure", "h1", "Heart failure")), (med_order(IBUPROFEN_600),)),
    ("nsaid-risk", med_facts(80), (med_order(IBUPROFEN_600),)),
    ("gabapentinoid-check", med_facts(50, egfr=egfr(45)), (med_order(GABAPENTIN_300),)),
    ("gabapentinoid-check", med_facts(50, egfr=egfr(45), neuropathic=med_condition("neuropathic", "n1", "M54.12")), (med_order(GABAPENTIN_300),)),
    ("gabapentinoid-check", med_facts(71, falls=med_condition("falls", "f1", "History of falling")), (med_order(GABAPENTIN_300),)),
    ("duloxetine-check", med_facts(70), (med_order(DULOXETINE_30),)),
    ("duloxetine-check", med_facts(70, egfr=egfr(20), falls=med_condition("falls", "f1", "History of falling")), (med_order(DULOXETINE_30),)),
]


@pytest.mark.parametrize(("rule_id", "patient", "orders"), SCENARIOS)
def test_cards_render_within_the_invariants(rule_id: str, patient: PatientFacts, orders: tuple[DraftOrder, ...]) -> None:
    """Every scenario's card renders: summary < 140 chars untruncated, rule id and facts in the detail, valid actions."""
    found = med_run(rule_id, patient, *orders)
    assert found is not None
    card = card_json(found, patient.age)
    assert_card_invariants(card, {rule_id})
    assert not card["summary"].endswith("…"), card["summary"]
    assert card["indicator"] == indicator(found)
    for fact in {f for r in found.reasons for f in r.facts}:
        for ref in fact.refs:
            assert ref in card["detail"]
    for shown in found.orders:
        assert shown.display in card["detail"]
