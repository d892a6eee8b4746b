"""The FHIR fallback path: a hook call without prefetch against a slow local FHIR server.

The test FHIR server (tests/fhir_server, Node) holds the typical record and answers every FHIR
request after a fixed delay (its ``delayMs`` fault). The service must run its prefetch queries
concurrently, so a call should take about as long as the slowest single query, not their sum.
Each query is timed alone with the service's own ``FhirClient`` (paging included) for the
comparison. Pages hold up to 1,000 entries, so each query is one round trip.

The test server is one Node process: queries that arrive together wait out their delays together,
then are searched one after another. So the same queries are also fired together straight from
a client (no service): that time is the least any client could take against this server, and
the service's call is compared with it too.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.records import PATIENT_ID, hook_request, record
from bench.servers import REPO, Server, start
from cds_service.fhir.client import FhirClient
from cds_service.fhir.loader import transaction_bundle

FHIR_SERVER_DIR = REPO / "tests" / "fhir_server"
SERVICE_PATH = "/cds-services/neck-pain-order-select"


@dataclass
class FallbackResult:
    delay_ms: int
    call_ms: float
    slowest_query_ms: float
    sequential_sum_ms: float
    queries_ms: dict[str, float]
    direct_concurrent_ms: float
    cards: int

    @property
    def ratio(self) -> float:
        return self.call_ms / self.slowest_query_ms


def start_fhir_server(log: Path) -> Server:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is required for the FHIR fallback benchmark (tests/fhir_server)")
    if not (FHIR_SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FHIR_SERVER_DIR, check=True)
    return start("fhir-server", [node, "server.js", "--port", "{port}", "--page-size", "1000"], log,
                 cwd=FHIR_SERVER_DIR, ready_path="/__health")


def _load(fhir: Server, resources: list[dict[str, Any]], delay_ms: int) -> str:
    base = fhir.root + "/fhir"
    with httpx.Client(timeout=60.0) as http:
        http.post(f"{fhir.root}/__reset").raise_for_status()
        for start in range(0, len(resources), 50):  # the server caps a transaction's updates
            bundle = transaction_bundle(resources[start : start + 50])
            http.post(base, content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"}).raise_for_status()
        http.put(f"{fhir.root}/__faults", json={"faults": [{"delayMs": delay_ms}]}).raise_for_status()
    return base


async def _time_queries(base: str, queries: dict[str, str], repeats: int) -> dict[str, float]:
    """Median time of each query alone, as the service's FhirClient runs it."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        client = FhirClient(http, max_pages=10, max_response_bytes=50_000_000)
        times: dict[str, list[float]] = {key: [] for key in queries}
        for _ in range(repeats):
            for key, query in queries.items():
                started = time.perf_counter()
                if "?" in query:
                    await client.search(base, query, None)
                else:
                    await client.read(base, query, None)
                times[key].append((time.perf_counter() - started) * 1000)
    return {key: round(statistics.median(values), 1) for key, values in times.items()}


async def _time_together(base: str, queries: dict[str, str], repeats: int) -> float:
    """Median time of all queries fired at once by a bare client, as the service fires them."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        client = FhirClient(http, max_pages=10, max_response_bytes=50_000_000)
        times = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            await asyncio.gather(*(
                client.search(base, query, None) if "?" in query else client.read(base, query, None)
                for query in queries.values()
            ))
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times[1:]), 1)  # the first opens the connections


def run_fallback(service: Server, fhir: Server, delay_ms: int = 100, repeats: int = 7) -> FallbackResult:
    """Time a no-prefetch call (median of ``repeats``) against the single queries it makes."""
    base = _load(fhir, record(150), delay_ms)
    with httpx.Client(timeout=30.0) as http:
        discovery = http.get(service.root + "/cds-services").raise_for_status().json()
        templates = next(s for s in discovery["services"] if s["id"] == SERVICE_PATH.rsplit("/", 1)[1])["prefetch"]
        body = hook_request(150)
        body.pop("prefetch")
        body["fhirServer"] = base
        raw = orjson.dumps(body)
        calls, cards = [], 0
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            response = http.post(service.root + SERVICE_PATH, content=raw, headers={"Content-Type": "application/json"})
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            cards = len(response.json()["cards"])
            if attempt:  # the first call opens the connection pool
                calls.append(elapsed)
    queries = {key: t.replace("{{context.patientId}}", PATIENT_ID) for key, t in templates.items()}
    single = asyncio.run(_time_queries(base, queries, repeats=3))
    together = asyncio.run(_time_together(base, queries, repeats=3))
    return FallbackResult(
        delay_ms=delay_ms,
        call_ms=round(statistics.median(calls), 1),
        slowest_query_ms=max(single.values()),
        sequential_sum_ms=round(sum(single.values()), 1),
        queries_ms=single,
        direct_concurrent_ms=together,
        cards=cards,
    )
