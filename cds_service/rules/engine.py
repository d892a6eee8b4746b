"""Run every registered rule whose content is not ``off`` and whose data could be read."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.rules.base import REGISTRY, Finding, RuleInput
from cds_service.rules.scope import gated

log = logging.getLogger(__name__)


def evaluate(
    facts: PatientFacts,
    orders: tuple[DraftOrder, ...],
    params: Mapping[str, Mapping[str, Any]],
    failed: dict[str, str] | None = None,
) -> list[Finding]:
    """Findings of the rules listed in ``params`` (rule id → its params), in registry order.

    Nothing fires outside the scope gate; a rule that needs data that could not be read is
    skipped; a rule that raises is logged and skipped, never fatal to the request, and put in
    ``failed`` (rule id → exception type and message, for the content tools; never logged).
    """
    evaluated = gated(facts, orders)
    if not evaluated:
        return []
    findings = []
    for rule_id, spec in REGISTRY.items():
        rule_params = params.get(rule_id)
        if rule_params is None:
            continue
        if not facts.has(*spec.needs):
            log.info("rule silent: data unavailable", extra={"rule_id": rule_id})
            continue
        try:
            found = spec.fn(RuleInput(facts, evaluated, orders, rule_params))
        except Exception as exc:  # a broken rule must not take the request down
            log.error("rule failed", extra={"rule_id": rule_id, "error_type": type(exc).__name__})
            if failed is not None:
                failed[rule_id] = f"{type(exc).__name__}: {exc}"
            continue
        if found is not None:
            findings.append(found)
    return findings
