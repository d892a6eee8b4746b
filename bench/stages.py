"""Where one hook call's time goes, stage by stage, in-process and without a profiler.

    python -m bench.stages [--size 150] [--calls 500]
    python -m bench.stages --body synthea-median-opioid [--calls 500]

Runs the steps of ``hooks.handler.find`` and ``handle_hook`` one after another on the benchmark's
record (``bench/records.py``) of ``--size`` resources, each call with nothing validated before, or
on the calls of one body of the suite (``bench/field.py``), each pass a new patient as
``bench/post.lua`` sends them (what the service keeps per process, as the element models of codes
every record repeats, it keeps here too). Each stage is timed with ``perf_counter``, after the same
garbage-collector tuning as the running service. Prints the fastest and the median of ``--calls``
calls per stage: this machine's speed drifts, so the fastest is the steadier figure for comparing
changes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson

from bench.field import suite, varied
from bench.records import hook_request
from cds_service.app import GC_THRESHOLDS
from cds_service.content.render import render_card, uncertain_counts
from cds_service.content.store import ContentStore
from cds_service.facts.build import build_facts
from cds_service.facts.orders import screen, validated_orders
from cds_service.facts.record import select_record
from cds_service.fhir.parse import clear_validated
from cds_service.hooks.context import parse_context
from cds_service.hooks.handler import available_data, evaluated_selections
from cds_service.protocol.models import CDSRequest, CDSResponse
from cds_service.hooks.prefetch import resolve_prefetch
from cds_service.protocol.services import SERVICES_BY_ID
from cds_service.jsonresponse import JSONResponse
from cds_service.rules.engine import evaluate
from cds_service.rules.scope import gated
from cds_service.settings import BUNDLED_CONTENT_DIR

STAGES = ("parse JSON", "request model", "context", "prefetch", "classify record", "scope gate",
          "draft orders", "rules", "cards", "response", "free request")  # fmt: skip


async def one_call(
    body: bytes, content: Any, times: dict[str, list[float]], service_id: str = "neck-pain-order-select", forget: bool = True
) -> int:
    """One call (by default an order-select of a new patient: ``forget`` what was validated before),
    each stage's seconds appended to ``times``; the number of cards."""
    service = SERVICES_BY_ID[service_id]
    clock = time.perf_counter

    def timed(stage: str, started: float) -> float:
        now = clock()
        times[stage].append(now - started)
        return now

    if forget:
        clear_validated()  # a new patient: nothing validated by an earlier call
    t = clock()
    raw = orjson.loads(body)
    t = timed("parse JSON", t)
    request = CDSRequest.model_validate(raw)
    t = timed("request model", t)
    context = parse_context(service.hook, request.context)
    t = timed("context", t)
    result = await resolve_prefetch(service.prefetch_templates(content.index), request, None, 1.0)
    t = timed("prefetch", t)
    record = select_record(result.resources, content.index, context.patient_id)
    t = timed("classify record", t)
    facts = build_facts(record, content.terminology, content.facts.params, date.today(), available_data(result) | {"patient"})
    screening = screen(context.draft_orders.entry, evaluated_selections(service, context), content.index)
    screened = gated(facts, tuple(order for order, *_ in screening))
    t = timed("scope gate", t)
    orders = validated_orders(screening, content.index)
    t = timed("draft orders", t)
    findings = evaluate(facts, orders, content.rule_params)
    t = timed("rules", t)
    counts = uncertain_counts(facts.uncertain) if findings else None
    cards = [render_card(content, f, facts.age.shown, "http://127.0.0.1", uncertain=counts) for f in findings]
    t = timed("cards", t)
    JSONResponse(CDSResponse(cards=cards).to_wire())
    t = timed("response", t)
    del raw, request, context, result, record, facts, screening, screened, orders, findings
    timed("free request", t)
    return len(cards)


def run(size: int, calls: int, warmup: int = 50, body: str | None = None) -> dict[str, tuple[float, float]]:
    """(fastest, median) µs per stage over ``calls`` calls on a ``size``-resource record, or on the
    calls of the suite's ``body`` (each counts once)."""
    content = ContentStore(BUNDLED_CONTENT_DIR).current
    body_calls = suite([body])[0].calls if body is not None else ()
    record = orjson.dumps(hook_request(size)) if body is None else b""
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    gc.collect()
    gc.freeze()
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    patients = itertools.count()

    async def calls_in_one_loop(n: int) -> None:
        if not body_calls:
            for _ in range(n):
                await one_call(record, content, times)
            return
        for i in range(n):
            if i % len(body_calls) == 0:
                patient = f"-s{next(patients)}"
            service_id, marked = body_calls[i % len(body_calls)]
            await one_call(varied(marked, patient), content, times, service_id, forget=False)

    try:
        asyncio.run(calls_in_one_loop(warmup))
        for stage_times in times.values():
            stage_times.clear()
        asyncio.run(calls_in_one_loop(calls))
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
    return {stage: (min(v) * 1e6, statistics.median(v) * 1e6) for stage, v in times.items()}


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=150, help="resources in the record (150)")
    parser.add_argument("--calls", type=int, default=500, help="measured calls (500)")
    parser.add_argument("--body", help="a body of the suite (bench/field.py) instead of the --size record")
    args = parser.parse_args(argv)
    result = run(args.size, args.calls, body=args.body)
    what = f"the calls of {args.body}" if args.body else f"one order-select call, {args.size}-resource record"
    out(f"{what[0].upper()}{what[1:]}, {args.calls} calls (µs)")
    out(f"{'stage':<16} {'fastest':>8} {'median':>8}")
    for stage, (fastest, median) in result.items():
        out(f"{stage:<16} {fastest:>8.0f} {median:>8.0f}")
    out(f"{'total':<16} {sum(f for f, _ in result.values()):>8.0f} {sum(m for _, m in result.values()):>8.0f}")


if __name__ == "__main__":
    main()
