"""The one support module of the rule tests: PatientFacts, DraftOrders and a rule run with its bundled
params; and, prefixed ``med_``, the medication rules' builders (RxNorm products, draft
MedicationRequests) on a content set with only the medication rules running."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from cds_service.content.loader import ContentSet, load_content
from cds_service.content.render import render_card
from cds_service.facts import AgeRange, DraftOrder, Fact, Imaging, PatientFacts, RedFlag
from cds_service.facts.model import DATA_KEYS, Dose, Medication
from cds_service.rules import REGISTRY, Finding, RuleInput
from cds_service.rules.engine import evaluate
from cds_service.settings import BUNDLED_CONTENT_DIR
from cds_service.terminology.drugnames import is_extended_release, route_of
from tests.conftest import RXNORM, UCUM, draft_order

TODAY = date(2026, 3, 15)
BASE_URL = "https://cds.example.org"


@cache
def content() -> ContentSet:
    return load_content(BUNDLED_CONTENT_DIR)


def on(days: int) -> date:
    return TODAY - timedelta(days=days)


def fact(key: str, days: int | None = None, ref: str | None = None, display: str | None = None, **kw: Any) -> Fact:
    """A fact dated ``days`` before TODAY (undated when None)."""
    return Fact(key, (ref or f"Condition/{key}",), display or key, None if days is None else on(days), **kw)


def pain(days: int) -> Fact:
    return fact("pain", days, "Condition/pain", "Cervicalgia")


def imaging(modality: str, region: str, days: int) -> Imaging:
    return Imaging(modality, region, fact(f"imaging-{modality}", days, f"Procedure/{modality}-{region}", f"{modality} {region} spine"))


def flag(kind: str, *facts: Fact, urgent: bool = True) -> RedFlag:
    return RedFlag(kind, urgent, facts)


def facts(**kw: Any) -> PatientFacts:
    """PatientFacts for TODAY, every data key readable, a patient reference; override anything
    (an ``age`` in whole years is that exact age)."""
    kw.setdefault("today", TODAY)
    kw.setdefault("available", frozenset(DATA_KEYS))
    kw.setdefault("patient_ref", "Patient/p1")
    kw.setdefault("age", 50)
    if isinstance(kw["age"], int):
        kw["age"] = AgeRange.exact(kw["age"])
    if "pain" in kw and "scope_conditions" not in kw and kw["pain"] is not None:
        kw["scope_conditions"] = (kw["pain"],)
    imaging_history = kw.get("imaging_history")
    if imaging_history is not None and "spine_imaging" not in kw:
        kw["spine_imaging"] = tuple(i for i in imaging_history if i.fact.on and (TODAY - i.fact.on).days <= 90)
    return PatientFacts(**kw)


def order(oid: str, *valuesets: str, rtype: str = "ServiceRequest", display: str | None = None, text: str = "", selected: bool = True) -> DraftOrder:
    """A draft order classified into ``valuesets``."""
    ref = f"{rtype}/{oid}"
    return DraftOrder(ref, rtype, display or oid, frozenset(valuesets), selected, text.lower(), resource=draft_order(rtype, oid))


def params(rule_id: str, **override: Any) -> dict[str, Any]:
    return {**content().rules[rule_id].content.params, **override}


def run(rule_id: str, patient: PatientFacts, orders: tuple[DraftOrder, ...] | list[DraftOrder], context: tuple[DraftOrder, ...] = (), **override: Any) -> Finding | None:
    """Call the rule function directly with the bundled params (``override`` replaces some)."""
    return call_rule(rule_id, patient, orders, context, params(rule_id, **override))


def call_rule(
    rule_id: str, patient: PatientFacts, orders: Sequence[DraftOrder], context: Sequence[DraftOrder], rule_params: Mapping[str, Any]
) -> Finding | None:
    """The rule function's finding: the selected ``orders`` are evaluated, all of them and ``context`` are context."""
    evaluated = tuple(o for o in orders if o.selected)
    return REGISTRY[rule_id].fn(RuleInput(patient, evaluated, tuple(orders) + tuple(context), rule_params))


def fired(patient: PatientFacts, orders: tuple[DraftOrder, ...] | list[DraftOrder]) -> set[str]:
    """Rule ids the engine fires (scope gate and ``needs`` applied)."""
    return {f.rule_id for f in evaluate(patient, tuple(orders), content().rule_params)}


def card(found: Finding, age: int | None = 50) -> dict[str, Any]:
    """The rendered CDS Hooks card as it goes on the wire."""
    return render_card(content(), found, age, BASE_URL).to_wire()


def reason_keys(found: Finding | None) -> list[str]:
    assert found is not None
    return [r.key for r in found.reasons]


def action_codes(card_json: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(action type, created code or deleted id) for every action of every suggestion."""
    out = []
    for suggestion in card_json.get("suggestions", []):
        for action in suggestion["actions"]:
            if action["type"] == "delete":
                out.append(("delete", action["resourceId"]))
            else:
                coding = action["resource"].get("code", {}).get("coding")
                out.append((action["type"], coding[0]["code"] if coding else None))
    return out


# --- Medication rules: RxNorm products, draft MedicationRequests, PatientFacts (names prefixed med_).
# Their content set holds only the medication rules running, so these tests read exactly the content they are about.
MED_TODAY = date(2026, 1, 15)
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
def med_content() -> ContentSet:
    """The bundled content with only the medication rules running (every other rule file set to ``mode: off``)."""
    directory = Path(tempfile.mkdtemp(prefix="medication-rules-content-"))
    atexit.register(shutil.rmtree, directory, True)
    shutil.copytree(BUNDLED_CONTENT_DIR, directory, dirs_exist_ok=True)
    for path in directory.glob("*.yaml"):
        if not path.name.startswith("_") and path.stem not in MEDICATION_RULES:
            path.write_text(re.sub(r"(?m)^mode: \w+$", "mode: off", path.read_text(encoding="utf-8")), encoding="utf-8")
    return load_content(directory)


def med_params(rule_id: str) -> Mapping[str, Any]:
    """The rule's params as shipped in its content file."""
    return med_content().rules[rule_id].content.params


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
    index = med_content().index
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


def med_order(
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
    med = medication(rxcui, ref, text=text, days=days, refills=refills, per_day=per_day, dose_mg=dose_mg, start=MED_TODAY)
    resource = draft_order(
        "MedicationRequest",
        oid,
        medicationCodeableConcept={"coding": [{"system": RXNORM, "code": rxcui}], "text": med.display},
        dosageInstruction=[
            {
                "timing": {
                    "repeat": {
                        "frequency": per_day or 1,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsDuration": {"value": days or 1, "unit": "days", "system": UCUM, "code": "d"},
                    }
                }
            }
        ],
        dispenseRequest={"numberOfRepeatsAllowed": refills, "quantity": {"value": 90}},
    )
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


def med_service(oid: str, *valuesets: str, display: str = "Physical therapy referral") -> DraftOrder:
    return DraftOrder(f"ServiceRequest/{oid}", "ServiceRequest", display, frozenset(valuesets), True)


def med_condition(key: str, cid: str, display: str, days_ago: int = 30) -> Fact:
    return Fact(key, (f"Condition/{cid}",), display, MED_TODAY - timedelta(days=days_ago))


def egfr(value: float) -> Fact:
    return Fact("egfr", ("Observation/egfr",), "eGFR", MED_TODAY - timedelta(days=10), value, "mL/min/1.73m2")


def med_facts(age: int | None = 45, **fields: Any) -> PatientFacts:
    """In-scope patient facts (neck pain for a month, ``age`` exactly, None unknown); ``fields`` override PatientFacts fields."""
    pain = med_condition("pain", "c1", "Cervicalgia")
    base: dict[str, Any] = {
        "today": MED_TODAY,
        "available": frozenset(DATA_KEYS),
        "patient_ref": "Patient/p1",
        "age": AgeRange() if age is None else AgeRange.exact(age),
        "pain": pain,
        "scope_conditions": (Fact("scope-condition", pain.refs, pain.display, pain.on),),
        "scope_refs": frozenset(pain.refs),
    }
    base.update(fields)
    return PatientFacts(**base)


def med_run(rule_id: str, patient: PatientFacts, *orders: DraftOrder, context: tuple[DraftOrder, ...] = (), **overrides: Any) -> Finding | None:
    """Call the rule function with the given orders (evaluated) and context orders, shipped params."""
    return call_rule(rule_id, patient, orders, context, {**med_params(rule_id), **overrides})


def keys(found: Finding | None) -> list[str]:
    return [] if found is None else [r.key for r in found.reasons]


def indicator(found: Finding) -> str:
    rule = med_content().rules[found.rule_id].content
    ranks = {"info": 0, "warning": 1, "critical": 2}
    return max((rule.reasons[r.key].indicator for r in found.reasons), key=ranks.__getitem__)


def card_json(found: Finding, age: int | None) -> dict[str, Any]:
    return render_card(med_content(), found, age, BASE_URL).to_wire()
