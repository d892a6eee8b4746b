"""Builders for the medication rule tests: RxNorm products, draft MedicationRequests, PatientFacts, a rule run.

The content set holds only the medication rules' files (with the value sets and shared files), so these
tests read exactly the content they are about.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cds_service.content.loader import ContentSet, load_content
from cds_service.content.render import render_card
from cds_service.facts import DraftOrder, Fact, PatientFacts
from cds_service.facts.model import DATA_KEYS, Dose, Medication
from cds_service.rules import Finding
from cds_service.settings import BUNDLED_CONTENT_DIR
from cds_service.terminology.drugnames import is_extended_release, route_of
from tests.conftest import RXNORM, UCUM, draft_order
from tests.unit.rules_support import BASE_URL, call_rule

TODAY = date(2026, 1, 15)
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
    """The bundled content with only the medication rules running (every other rule file set to ``mode: off``)."""
    directory = Path(tempfile.mkdtemp(prefix="medication-rules-content-"))
    atexit.register(shutil.rmtree, directory, True)
    shutil.copytree(BUNDLED_CONTENT_DIR, directory, dirs_exist_ok=True)
    for path in directory.glob("*.yaml"):
        if not path.name.startswith("_") and path.stem not in MEDICATION_RULES:
            path.write_text(re.sub(r"(?m)^mode: \w+$", "mode: off", path.read_text(encoding="utf-8")), encoding="utf-8")
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
    return call_rule(rule_id, patient, orders, context, {**params(rule_id), **overrides})


def keys(found: Finding | None) -> list[str]:
    return [] if found is None else [r.key for r in found.reasons]


def indicator(found: Finding) -> str:
    rule = content().rules[found.rule_id].content
    ranks = {"info": 0, "warning": 1, "critical": 2}
    return max((rule.reasons[r.key].indicator for r in found.reasons), key=ranks.__getitem__)


def card_json(found: Finding, age: int | None) -> dict[str, Any]:
    return render_card(content(), found, age, BASE_URL).to_wire()
