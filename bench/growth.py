"""Cost growth: the service's time per request against record size, in-process.

One request is what the route does with a body: ``orjson`` parse, request validation,
``handle_hook`` (prefetch complete, so no network; no resource validated by an earlier call), response model and ``orjson`` output. Each
size is timed several times (median) after a warm-up; a least-squares line
``ms = fixed + slope × resources`` is fitted and its fit reported, with the cost per resource at
each size, so linear growth shows as a flat per-resource column.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import orjson

from bench.records import hook_request
from cds_service.app import tune_gc
from cds_service.content.store import ContentStore
from cds_service.fhir.parse import clear_validated
from cds_service.hooks.handler import handle_hook
from cds_service.hooks.routes import parse_request
from cds_service.protocol.services import SERVICES_BY_ID
from cds_service.settings import BUNDLED_CONTENT_DIR

SIZES = (10, 100, 500, 1000, 2000, 5000)
SERVICE = SERVICES_BY_ID["neck-pain-order-select"]


@dataclass
class Growth:
    points: list[tuple[int, float]]  # (resources, median ms)
    fixed_ms: float
    ms_per_1000: float
    r_squared: float


async def _one(raw: bytes, content: object) -> bytes:
    clear_validated()  # each call a new patient: nothing validated before
    request = parse_request(orjson.loads(raw))
    outcome = await handle_hook(SERVICE, request, content, None, 2.0, "http://127.0.0.1")  # type: ignore[arg-type]
    return orjson.dumps(outcome.response.to_wire())


async def _measure(sizes: tuple[int, ...], budget_seconds: float) -> list[tuple[int, float]]:
    content = ContentStore(BUNDLED_CONTENT_DIR).current
    bodies = {size: orjson.dumps(hook_request(size)) for size in sizes}
    for raw in bodies.values():
        await _one(raw, content)
    tune_gc()  # as the app does after start-up
    points = []
    for size, raw in bodies.items():
        times: list[float] = []
        deadline = time.perf_counter() + budget_seconds
        while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 200):
            started = time.perf_counter()
            await _one(raw, content)
            times.append((time.perf_counter() - started) * 1000)
        points.append((size, round(statistics.median(times), 3)))
    return points


def fit(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """(intercept, slope, R²) of the least-squares line through ``points``."""
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    total = sum((y - my) ** 2 for y in ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys))
    return intercept, slope, 1 - residual / total if total else 1.0


def run_growth(sizes: tuple[int, ...] = SIZES, budget_seconds: float = 1.5) -> Growth:
    points = asyncio.run(_measure(sizes, budget_seconds))
    intercept, slope, r2 = fit(points)
    return Growth(points, round(intercept, 3), round(slope * 1000, 2), round(r2, 4))
