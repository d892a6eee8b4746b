"""Builders for pure rule tests: PatientFacts, DraftOrders and a rule run with its bundled params."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import cache
from typing import Any

from cds_service.content.loader import ContentSet, load_content
from cds_service.content.render import render_card
from cds_service.facts import DraftOrder, Fact, Imaging, PatientFacts, RedFlag
from cds_service.facts.model import DATA_KEYS
from cds_service.rules import REGISTRY, Finding, RuleInput
from cds_service.rules.engine import evaluate
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import draft_order

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
    """PatientFacts for TODAY, every data key readable, a patient reference; override anything."""
    kw.setdefault("today", TODAY)
    kw.setdefault("available", frozenset(DATA_KEYS))
    kw.setdefault("patient_ref", "Patient/p1")
    kw.setdefault("age", 50)
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
