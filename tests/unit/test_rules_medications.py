"""Medication rules, shared parts: builders (used by the other test_rules_medications_* files),
data needs, suggestions as valid FHIR, and rendering of every card within the card invariants."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from cds_service.content.loader import ContentSet, load_content
from cds_service.content.render import render_card
from cds_service.facts import DraftOrder, Fact, PatientFacts
from cds_service.facts.model import DATA_KEYS, OBSERVATIONS, Dose, Medication
from cds_service.facts.orders import build_orders
from cds_service.fhir.parse import model_class
from cds_service.rules import REGISTRY, Finding, RuleInput
from cds_service.rules.engine import evaluate
from cds_service.settings import BUNDLED_CONTENT_DIR
from cds_service.terminology.drugnames import is_extended_release, route_of
from tests.contract.invariants import assert_card_invariants

TODAY = date(2026, 1, 15)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MEDICATION_RULES = (
    "systemic-corticosteroid",
    "opioid-first-line",
    "opioid-risk",
    "muscle-relaxant-older-adult",
    "muscle-relaxant-duration",
    "baclofen-renal",
    "benzodiazepine-for-spasm",
    "nsaid-risk",
    "gabapentinoid-check",
    "duloxetine-check",
)

# RxNorm product codes from the bundled product table (rxnorm-products.tsv).
CYCLOBENZAPRINE_5 = "828320"
CYCLOBENZAPRINE_10 = "828348"
CYCLOBENZAPRINE_ER_15 = "828358"
METHOCARBAMOL_500 = "197943"
CARISOPRODOL_350 = "197446"
BACLOFEN_10 = "197391"
TIZANIDINE_4 = "313413"
OXYCODONE_5 = "1049621"
HYDROCODONE_APAP = "857002"
DIAZEPAM_5 = "197591"
ALPRAZOLAM_05 = "308048"
GABAPENTIN_300 = "310431"
DULOXETINE_30 = "596930"
IBUPROFEN_600 = "197806"
DICLOFENAC_75 = "855926"
PREDNISONE_20 = "312615"
APIXABAN_5 = "1364445"
ACETAMINOPHEN_500 = "198440"
DICLOFENAC_INGREDIENT = "3355"


@lru_cache(maxsize=1)
def content() -> ContentSet:
    """The bundled value sets, shared files and the medication rules' content files (only those)."""
    directory = Path(tempfile.mkdtemp(prefix="medication-rules-content-"))
    atexit.register(shutil.rmtree, directory, True)
    shutil.copytree(BUNDLED_CONTENT_DIR / "valuesets", directory / "valuesets")
    for name in ("_facts.yaml", "_layout.yaml", *(f"{rule_id}.yaml" for rule_id in MEDICATION_RULES)):
        shutil.copy(BUNDLED_CONTENT_DIR / name, directory / name)
    return load_content(directory)


def params(rule_id: str) -> Mapping[str, Any]:
    """The rule's params as shipped in its content file."""
    return content().rules[rule_id].content.params


def medication(
    rxcui: str,
    ref: str = "MedicationRequest/m1",
    *,
    text: str | None = None,
    active: bool = True,
    days: float | None = None,
    refills: int = 0,
    per_day: float | None = None,
    dose_mg: float | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Medication:
    """A Medication whose ingredients, value sets, route, ER flag and strength come from the terminology."""
    index = content().index
    product = index.terminology.rxnorm.product(rxcui)
    ingredients, valuesets = index.of_medication([(RXNORM, rxcui)], text or "")
    display = text or (product.name if product is not None else rxcui)
    if dose_mg is None and product is not None and len(product.ingredients) == 1:
        dose_mg = product.strengths_mg[0]
    route = product.route if product is not None else route_of(display)
    extended = product.extended_release if product is not None else is_extended_release(display, route, ingredients)
    return Medication(
        ref=ref,
        display=display,
        ingredients=ingredients,
        valuesets=valuesets,
        active=active,
        start=start,
        end=end,
        dose=Dose(dose_mg=dose_mg, doses_per_day=per_day, days_supply=days, refills=refills),
        extended_release=extended,
        route=route,
    )


def order(
    rxcui: str,
    oid: str = "m1",
    *,
    days: float | None = 7,
    per_day: float | None = 3,
    refills: int = 0,
    dose_mg: float | None = None,
    text: str | None = None,
    selected: bool = True,
) -> DraftOrder:
    """A draft MedicationRequest (valid R4 JSON kept in ``resource``) for the product ``rxcui``."""
    ref = f"MedicationRequest/{oid}"
    med = medication(rxcui, ref, text=text, days=days, refills=refills, per_day=per_day, dose_mg=dose_mg, start=TODAY)
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}], "text": med.display},
        "dosageInstruction": [
            {
                "timing": {
                    "repeat": {
                        "frequency": per_day or 1,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsDuration": {"value": days or 1, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
                    }
                }
            }
        ],
        "dispenseRequest": {"numberOfRepeatsAllowed": refills, "quantity": {"value": 90}},
    }
    return DraftOrder(
        ref=ref,
        resource_type="MedicationRequest",
        display=med.display,
        valuesets=med.valuesets,
        selected=selected,
        text=med.display.lower(),
        medication=med,
        resource=resource,
    )


def service(oid: str, *valuesets: str, display: str = "Physical therapy referral") -> DraftOrder:
    return DraftOrder(f"ServiceRequest/{oid}", "ServiceRequest", display, frozenset(valuesets), True)


def condition(key: str, cid: str, display: str, days_ago: int = 30) -> Fact:
    return Fact(key, (f"Condition/{cid}",), display, TODAY - timedelta(days=days_ago))


def egfr(value: float) -> Fact:
    return Fact("egfr", ("Observation/egfr",), "eGFR", TODAY - timedelta(days=10), value, "mL/min/1.73m2")


def facts(age: int | None = 45, **fields: Any) -> PatientFacts:
    """In-scope patient facts (neck pain for a month); ``fields`` override PatientFacts fields."""
    pain = condition("pain", "c1", "Cervicalgia")
    base: dict[str, Any] = {
        "today": TODAY,
        "available": frozenset(DATA_KEYS),
        "patient_ref": "Patient/p1",
        "age": age,
        "pain": pain,
        "scope_conditions": (Fact("scope-condition", pain.refs, pain.display, pain.on),),
        "scope_refs": frozenset(pain.refs),
    }
    base.update(fields)
    return PatientFacts(**base)


def run(rule_id: str, patient: PatientFacts, *orders: DraftOrder, context: tuple[DraftOrder, ...] = (), **overrides: Any) -> Finding | None:
    """Call the rule function with the given orders (evaluated) and context orders, shipped params."""
    evaluated = tuple(o for o in orders if o.selected)
    rule_params = {**params(rule_id), **overrides}
    return REGISTRY[rule_id].fn(RuleInput(patient, evaluated, tuple(orders) + context, rule_params))


def keys(found: Finding | None) -> list[str]:
    return [] if found is None else [r.key for r in found.reasons]


def indicator(found: Finding) -> str:
    rule = content().rules[found.rule_id].content
    ranks = {"info": 0, "warning": 1, "critical": 2}
    return max((rule.reasons[r.key].indicator for r in found.reasons), key=ranks.__getitem__)


def card_json(found: Finding, age: int | None) -> dict[str, Any]:
    card = render_card(content(), found, age, "https://cds.example.org")
    return card.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_every_medication_rule_is_registered_with_content() -> None:
    """Each medication rule id has a registered function and an active content file."""
    for rule_id in MEDICATION_RULES:
        assert rule_id in REGISTRY
        assert content().rules[rule_id].content.mode == "active"


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
    patient = facts(80, egfr=egfr(20), available=frozenset(DATA_KEYS) - {OBSERVATIONS})
    rule_params = {rid: params(rid) for rid in MEDICATION_RULES}
    found = evaluate(patient, (order(BACLOFEN_10),), rule_params)
    assert "baclofen-renal" not in {f.rule_id for f in found}
    found = evaluate(facts(80, egfr=egfr(20)), (order(BACLOFEN_10),), rule_params)
    assert "baclofen-renal" in {f.rule_id for f in found}


def test_medication_rules_are_silent_out_of_scope() -> None:
    """With no neck/upper-back condition and no spine order, no medication rule speaks."""
    patient = facts(80, pain=None, scope_conditions=(), scope_refs=frozenset())
    orders = (order(CYCLOBENZAPRINE_5, days=30), order(OXYCODONE_5, "m2", days=30))
    assert evaluate(patient, orders, {rid: params(rid) for rid in MEDICATION_RULES}) == []


def test_limit_duration_suggestions_are_valid_updates() -> None:
    """The 'limit' and 'shorten' updates are valid R4 MedicationRequests with the param days, no refills, no quantity."""
    relaxant = run("muscle-relaxant-duration", facts(45), order(CYCLOBENZAPRINE_5, days=30, refills=2))
    opioid = run("opioid-risk", facts(45), order(OXYCODONE_5, days=30))
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
    raw = {
        "resourceType": "MedicationRequest",
        "id": "t1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
    }
    (built,) = build_orders([{"resource": raw}], None, content().index)
    assert built.medication is not None
    assert (built.medication.route, built.medication.extended_release) == (route, extended)


def test_product_codes_keep_the_product_route() -> None:
    """A known product code decides the route and ER flag, whatever the text says."""
    raw = {
        "resourceType": "MedicationRequest",
        "id": "t2",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": CYCLOBENZAPRINE_ER_15}], "text": "Amrix gel"},
    }
    (built,) = build_orders([{"resource": raw}], None, content().index)
    assert built.medication is not None
    assert (built.medication.route, built.medication.extended_release) == ("oral", True)


SCENARIOS: list[tuple[str, PatientFacts, tuple[DraftOrder, ...]]] = [
    ("systemic-corticosteroid", facts(50), (order(PREDNISONE_20),)),
    ("systemic-corticosteroid", facts(50, radiculopathy=condition("radiculopathy", "r1", "M54.12")), (order(PREDNISONE_20, days=15),)),
    ("opioid-first-line", facts(50), (order(OXYCODONE_5),)),
    ("opioid-risk", facts(50), (order(OXYCODONE_5, days=30),)),
    ("opioid-risk", facts(80, falls=condition("falls", "f1", "History of falling")), (order(OXYCODONE_5, days=30), order(DIAZEPAM_5, "m2"))),
    ("opioid-risk", facts(80, falls=condition("falls", "f1", "History of falling")), (order(OXYCODONE_5),)),
    ("muscle-relaxant-older-adult", facts(82), (order(CYCLOBENZAPRINE_5), order(METHOCARBAMOL_500, "m2"))),
    ("muscle-relaxant-duration", facts(82), (order(CYCLOBENZAPRINE_10, days=30), order(CARISOPRODOL_350, "m2"))),
    ("muscle-relaxant-duration", facts(30), (order(CARISOPRODOL_350),)),
    ("muscle-relaxant-duration", facts(70), (order(CYCLOBENZAPRINE_ER_15, per_day=1),)),
    ("muscle-relaxant-duration", facts(70), (order(CYCLOBENZAPRINE_10, per_day=1),)),
    ("baclofen-renal", facts(70, egfr=egfr(45)), (order(BACLOFEN_10),)),
    ("benzodiazepine-for-spasm", facts(40), (order(DIAZEPAM_5),)),
    ("benzodiazepine-for-spasm", facts(71), (order(DIAZEPAM_5), order(OXYCODONE_5, "m2", selected=False))),
    ("nsaid-risk", facts(80, egfr=egfr(20), heart_failure=condition("heart-failure", "h1", "Heart failure")), (order(IBUPROFEN_600),)),
    ("nsaid-risk", facts(80), (order(IBUPROFEN_600),)),
    ("gabapentinoid-check", facts(50, egfr=egfr(45)), (order(GABAPENTIN_300),)),
    ("gabapentinoid-check", facts(50, egfr=egfr(45), neuropathic=condition("neuropathic", "n1", "M54.12")), (order(GABAPENTIN_300),)),
    ("gabapentinoid-check", facts(71, falls=condition("falls", "f1", "History of falling")), (order(GABAPENTIN_300),)),
    ("duloxetine-check", facts(70), (order(DULOXETINE_30),)),
    ("duloxetine-check", facts(70, egfr=egfr(20), falls=condition("falls", "f1", "History of falling")), (order(DULOXETINE_30),)),
]


@pytest.mark.parametrize(("rule_id", "patient", "orders"), SCENARIOS)
def test_cards_render_within_the_invariants(rule_id: str, patient: PatientFacts, orders: tuple[DraftOrder, ...]) -> None:
    """Every scenario's card renders: summary < 140 chars untruncated, rule id and facts in the detail, valid actions."""
    found = run(rule_id, patient, *orders)
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
