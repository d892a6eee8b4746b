"""Run every registered rule whose content is not ``off`` and whose data could be read."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.rules.base import REGISTRY, Finding, RuleInput
from cds_service.rules.scope import gated

log = logging.getLogger(__name__)


Withheld = tuple[str, str]  # (rule id, why: the key of an uncertain fact)


def evaluate(
    facts: PatientFacts,
    orders: tuple[DraftOrder, ...],
    params: Mapping[str, Mapping[str, Any]],
    withheld: list[Withheld] | None = None,
    failed: dict[str, str] | None = None,
) -> list[Finding]:
    """Findings of the rules listed in ``params`` (rule id → its params), in registry order.

    Nothing fires outside the scope gate; a rule that needs data that could not be read is
    skipped; a rule that raises is logged and skipped, never fatal to the request, and put in
    ``failed`` (rule id → exception type and message, for the content tools; never logged). The
    finding of a reassuring rule is withheld when the record holds entries that could show a red
    flag but were not read or recognised; ``withheld`` then gets (rule id, reason) once per
    distinct reason.
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
        if found is None:
            continue
        if spec.reassures and facts.uncertain:
            reasons = dict.fromkeys(f.key for f in facts.uncertain)
            log.debug("reassurance withheld", extra={"rule_id": rule_id, "reasons": list(reasons)})
            if withheld is not None:
                withheld.extend((rule_id, reason) for reason in reasons)
            continue
        findings.append(found)
    return findings
