"""A finding's rule id is the id its rule is registered under, typed once."""

from __future__ import annotations

import ast
from pathlib import Path

from cds_service.rules import REGISTRY
from cds_service.rules.base import Finding, RuleInput, finding, rule
from tests.unit.rules_support import facts, order

RULES_DIR = Path(__file__).resolve().parents[2] / "cds_service" / "rules"


def test_a_finding_carries_its_registration_id() -> None:
    """A registered rule's finding carries the registered id, whatever the function's body built."""

    def body(data: RuleInput) -> Finding | None:
        return finding(data.orders)

    registered = rule("registration-probe", needs=())(body)
    try:
        found = registered(RuleInput(facts(), (order("o1"),), (order("o1"),), {}))
        assert found is not None and found.rule_id == "registration-probe"
        assert REGISTRY["registration-probe"].fn is registered
    finally:
        del REGISTRY["registration-probe"]


def test_no_rule_module_types_a_rule_id_into_its_finding() -> None:
    """Rule modules name a rule id once, in the ``rule`` decorator: ``finding`` takes no id."""
    for path in RULES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "finding" and node.args:
                first = node.args[0]
                assert not (isinstance(first, ast.Constant) and isinstance(first.value, str)), f"{path.name}:{node.lineno}"
