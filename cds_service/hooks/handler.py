"""One hook call, end to end: context → prefetch (with fallback) → facts → rules → cards."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cds_service.appropriateness import rate_call, stamp_consult
from cds_service.protocol.configuration import configuration
from cds_service.content.loader import ContentSet
from cds_service.content.outcome import Outcome, render_findings
from cds_service.errors import InvalidRequest, PreconditionFailed
from cds_service.facts.build import build_facts
from cds_service.facts import DraftOrder
from cds_service.facts.model import CONDITIONS, DATA_KEYS, MEDICATIONS, PATIENT, PatientFacts
from cds_service.facts.orders import screen, validated_orders
from cds_service.facts.record import select_record
from cds_service.hooks.context import OrderSelectContext, parse_context
from cds_service.hooks.medfetch import resolve_medications
from cds_service.protocol.models import CDSRequest, CDSResponse
from cds_service.hooks.prefetch import PrefetchResult, resolve_prefetch
from cds_service.protocol.services import PATIENT_KEY, ServiceDeclaration
from cds_service.rules.base import Finding
from cds_service.rules.engine import Withheld, evaluate
from cds_service.rules.scope import gated, scope_undecided
from cds_service.transience import SeenCards

log = logging.getLogger(__name__)
MEDICATION_KEYS = ("medicationRequests", "medicationStatements")


def available_data(result: PrefetchResult) -> frozenset[str]:
    """Data keys whose every source could be wholly read (medications need both request types);
    an incomplete key is not available: its pages read count only as positive evidence."""
    keys = {k for k in DATA_KEYS if k in result.resources and k not in result.unavailable}
    if all(k in result.resources and k not in result.unavailable for k in MEDICATION_KEYS):
        keys.add(MEDICATIONS)
    return frozenset(keys)


def evaluated_selections(service: ServiceDeclaration, context: Any) -> list[str] | None:
    """The ``selections`` of an order-select context for a service that evaluates only those; None
    otherwise (every draft order is evaluated)."""
    if isinstance(context, OrderSelectContext) and service.evaluates == "selections":
        return context.selections
    return None


@dataclass(frozen=True)
class Evaluated:
    """The findings of one hook call, with the facts and prefetch they came from."""

    facts: PatientFacts
    findings: list[Finding]
    prefetch: PrefetchResult
    failed: Mapping[str, str] = field(default_factory=dict)  # rule id -> the exception its rule raised
    withheld: tuple[Withheld, ...] = ()
    orders: tuple[DraftOrder, ...] = ()  # the draft orders built (when the scope gate opened)


async def find(
    service: ServiceDeclaration,
    request: CDSRequest,
    content: ContentSet,
    fhir_client: Any,
    deadline_seconds: float,
    today: date | None = None,
) -> Evaluated:
    """Context → prefetch (with fallback) → facts → rule findings; 400 or 412 when that cannot be done.

    412 only when the data that decides whether the service applies could not be had: the Patient,
    or the Conditions when the draft orders do not put the call in scope by themselves (and the
    pages of them read do not either: ``scope_undecided``). Data only some rules need never gives
    a 412: those rules stay silent and the others answer.
    """
    if request.hook != service.hook:
        raise InvalidRequest.one(f"service {service.id} answers hook {service.hook}", "hook")
    context = parse_context(service.hook, request.context)
    started = time.monotonic()
    result = await resolve_prefetch(service.prefetch_templates(content.index), request, fhir_client, deadline_seconds)
    if PATIENT_KEY in result.unavailable or not result.resources.get(PATIENT_KEY):
        reason = result.unavailable.get(PATIENT_KEY, "not-found")
        raise PreconditionFailed.keys({PATIENT_KEY: reason}, "the Patient is needed to evaluate any order", result.unavailable)
    drafts = context.draft_orders.entry
    left = deadline_seconds - (time.monotonic() - started)  # Medications are read under the same deadline
    medications = await resolve_medications(result.resources, drafts, request, fhir_client, left)
    record = select_record(result.resources, content.index, context.patient_id, medications)
    if record.patient is None:
        raise PreconditionFailed("no valid Patient resource for context.patientId", PATIENT_KEY, result.unavailable)
    available = available_data(result) | {PATIENT}
    facts = build_facts(record, content.terminology, content.facts.params, today or date.today(), available)
    selections = evaluated_selections(service, context)
    findings: list[Finding] = []
    withheld: list[Withheld] = []
    failed: dict[str, str] = {}
    orders: tuple[DraftOrder, ...] = ()
    # The screened (unvalidated) orders hold every order validation keeps, and the gate only opens
    # for more orders: when it stays shut for them, it stays shut, and no draft need be validated.
    screening = screen(drafts, selections, content.index, medications)
    screened = tuple(item[0] for item in screening)
    if gated(facts, screened):
        orders = validated_orders(screening, content.index)
        findings = evaluate(facts, orders, content.rule_params, withheld, failed)
    elif scope_undecided(facts, screened):
        reason = result.unavailable.get(CONDITIONS, "not-found")
        why = "whether the orders are for neck or upper-back pain cannot be decided"
        raise PreconditionFailed.keys({CONDITIONS: reason}, why, result.unavailable)
    return Evaluated(facts, findings, result, failed, tuple(withheld), orders)


async def handle_hook(
    service: ServiceDeclaration,
    request: CDSRequest,
    content: ContentSet,
    fhir_client: Any,
    deadline_seconds: float,
    base_url: str,
    today: date | None = None,
    seen: SeenCards | None = None,
    render_shadow: bool = False,
) -> Outcome:
    """A hook call answered: shown cards rendered, most severe first; shadow findings kept apart
    (rendered too with ``render_shadow``, for the preview tools)."""
    started = time.perf_counter()
    config = configuration(request.extension)  # a wrongly typed option is a 400 before any work
    evaluated = await find(service, request, content, fhir_client, deadline_seconds, today)
    result = evaluated.prefetch
    facts = evaluated.facts
    results = render_findings(content, evaluated.findings, facts, base_url, render_shadow)
    shown = [(r.finding, r.card) for r in results if r.card is not None and r.mode != "shadow"]
    shadow = [r.finding for r in results if r.mode == "shadow"]
    if not config.info_cards:
        shown = [pair for pair in shown if pair[1].indicator != "info"]
    repeats: list[str] = []
    if seen is not None and shown:
        shown, repeats = seen.filter(service.hook, str(request.context.get("patientId")), shown)
    ratings, actions, consult = rate_call(
        content, facts, evaluated.orders if config.ratings else (), evaluated.findings, request.hook_instance
    )
    if consult is not None:  # the actions' session id, on the rated resources the cards suggest too
        stamp_consult((c for _, c in shown), consult)
    if log.isEnabledFor(logging.DEBUG):  # the access line (observability/middleware.py) says the same at INFO
        log.debug(
            "hook evaluated",
            extra={
                "service_id": service.id,
                "hook_instance": str(request.hook_instance),
                "rule_ids": [f.rule_id for f, _ in shown],
                "shadow_rule_ids": [f.rule_id for f in shadow],
                "unavailable": sorted(result.unavailable),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    cards = [c for _, c in shown]
    if actions:  # CDS Hooks 2.0 place, and the pre-2.0 one older clients (the Sandbox's PAMA tab) read
        response = CDSResponse(cards=cards, system_actions=actions, extension={"systemActions": actions})
    else:
        response = CDSResponse(cards=cards)
    return Outcome(
        response,
        shown,
        shadow,
        dict(result.unavailable),
        result.fetched,
        withheld=evaluated.withheld,
        results=tuple(results),
        age=evaluated.facts.age.shown,
        errors=dict(evaluated.failed),
        ratings=ratings,
        repeats=tuple(repeats),
        card_versions={f.rule_id: content.rules[f.rule_id].content.version for f, _ in shown},
    )
