"""The FHIR fallback path: a hook call without prefetch against a slow FHIR server.

The service runs its eight prefetch queries concurrently, so a call should take about as long
as the slowest single query, not their sum. Each query is timed alone with the service's own
``FhirClient`` (paging included), the eight are fired together by a bare client (no service),
and the service's call is timed, against two servers holding the typical record, each answering
every request after a ``delay_ms`` timer:

* the test FHIR server (tests/fhir_server: Medplum in one Node process, its ``delayMs`` fault).
  Queries that arrive together wait out their delays together, then are searched one after
  another (its search is CPU work on one thread), so no client gets near the slowest single
  query; the fair comparison there is the same queries fired together by a bare client;
* ``bench/fhir_stub.py``, which answers each query with the JSON the test server gave for it,
  captured first, and serves requests concurrently, as a FHIR server with spare capacity does.
  Against it the call shows what the service adds to the slowest query.

Pages hold up to 1,000 entries, so each query is one round trip.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.records import PATIENT_ID, hook_request, record
from bench.servers import REPO, Server, start
from cds_service.fhir.client import FhirClient
from cds_service.commands.load_fixtures import transaction_bundle

FHIR_SERVER_DIR = REPO / "tests" / "fhir_server"
SERVICE_PATH = "/cds-services/neck-pain-order-select"


@dataclass
class ServerTimes:
    """One FHIR server's figures: the service's call and the queries without the service (ms)."""

    call_ms: float
    queries_ms: dict[str, float]
    together_ms: float
    cards: int

    @property
    def slowest_query_ms(self) -> float:
        return max(self.queries_ms.values())

    @property
    def sequential_sum_ms(self) -> float:
        return round(sum(self.queries_ms.values()), 1)

    @property
    def ratio(self) -> float:
        """The call against the slowest single query."""
        return self.call_ms / self.slowest_query_ms

    @property
    def ratio_together(self) -> float:
        """The call against the same queries fired together by a bare client."""
        return self.call_ms / self.together_ms

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_ms": self.call_ms, "slowest_query_ms": self.slowest_query_ms,
            "sequential_sum_ms": self.sequential_sum_ms, "together_ms": self.together_ms,
            "queries_ms": self.queries_ms, "cards": self.cards,
            "ratio": round(self.ratio, 2), "ratio_together": round(self.ratio_together, 2),
        }  # fmt: skip


@dataclass
class FallbackResult:
    delay_ms: int
    test_server: ServerTimes
    concurrent: ServerTimes


def start_fhir_server(log: Path) -> Server:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is required for the FHIR fallback benchmark (tests/fhir_server)")
    if not (FHIR_SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FHIR_SERVER_DIR, check=True)
    return start("fhir-server", [node, "server.js", "--port", "{port}", "--page-size", "1000"], log,
                 cwd=FHIR_SERVER_DIR, ready_path="/__health")


def start_fhir_stub(log: Path, answers: Path, delay_ms: int) -> Server:
    """``bench/fhir_stub.py`` serving ``answers`` after ``delay_ms``, one process."""
    return start("fhir-stub", [sys.executable, "-m", "bench.fhir_stub", "--port", "{port}", "--answers", str(answers),
                               "--delay-ms", str(delay_ms)], log, env={"PYTHONPATH": str(REPO)}, ready_path="/__health")


def _load(fhir: Server, resources: list[dict[str, Any]]) -> str:
    base = fhir.root + "/fhir"
    with httpx.Client(timeout=60.0) as http:
        http.post(f"{fhir.root}/__reset").raise_for_status()
        for offset in range(0, len(resources), 50):  # the server caps a transaction's updates
            bundle = transaction_bundle(resources[offset : offset + 50])
            http.post(base, content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"}).raise_for_status()
    return base


def _delay(fhir: Server, delay_ms: int) -> None:
    httpx.put(f"{fhir.root}/__faults", json={"faults": [{"delayMs": delay_ms}]}, timeout=30.0).raise_for_status()


def _capture(base: str, queries: dict[str, str]) -> dict[str, Any]:
    """The test server's answer to each query (one page each), for the stand-in to serve."""
    with httpx.Client(timeout=60.0) as http:
        return {query: http.get(f"{base}/{query}").raise_for_status().json() for query in queries.values()}


TOKEN = "bench-token"  # the test FHIR server and the stub accept any token
LOCAL_HOSTS = ["127.0.0.1"]  # loopback is refused unless listed


async def _run(client: FhirClient, base: str, query: str) -> list[dict[str, Any]]:
    if "?" in query:
        return await client.search(base, query, TOKEN)
    return [await client.read(base, query, TOKEN)]


async def _time_queries(base: str, queries: dict[str, str], repeats: int) -> dict[str, float]:
    """Median time of each query alone, as the service's FhirClient runs it."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        client = FhirClient(http, max_pages=10, max_response_bytes=50_000_000, allowed_hosts=LOCAL_HOSTS)
        times: dict[str, list[float]] = {key: [] for key in queries}
        await _run(client, base, next(iter(queries.values())))  # opens the connection
        for _ in range(repeats):
            for key, query in queries.items():
                started = time.perf_counter()
                await _run(client, base, query)
                times[key].append((time.perf_counter() - started) * 1000)
    return {key: round(statistics.median(values), 1) for key, values in times.items()}


async def _time_together(base: str, queries: dict[str, str], repeats: int) -> float:
    """Median time of all queries fired at once by a bare client, as the service fires them."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        client = FhirClient(http, max_pages=10, max_response_bytes=50_000_000, allowed_hosts=LOCAL_HOSTS)
        times = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            await asyncio.gather(*(_run(client, base, query) for query in queries.values()))
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times[1:]), 1)  # the first opens the connections


def _time_calls(service: Server, base: str, repeats: int) -> tuple[float, int]:
    """(median ms, cards) of the no-prefetch hook call against the FHIR server at ``base``."""
    body = hook_request(150)
    body.pop("prefetch")
    body["fhirServer"] = base
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "cds-service"}  # fmt: skip
    raw = orjson.dumps(body)
    calls, cards = [], 0
    with httpx.Client(timeout=30.0) as http:
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            response = http.post(service.root + SERVICE_PATH, content=raw, headers={"Content-Type": "application/json"})
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            cards = len(response.json()["cards"])
            if attempt:  # the first call opens the service's connection pool
                calls.append(elapsed)
    return round(statistics.median(calls), 1), cards


def _times(service: Server, base: str, queries: dict[str, str], repeats: int) -> ServerTimes:
    call_ms, cards = _time_calls(service, base, repeats)
    single = asyncio.run(_time_queries(base, queries, repeats=3))
    together = asyncio.run(_time_together(base, queries, repeats=3))
    return ServerTimes(call_ms, single, together, cards)


def run_fallback(service: Server, fhir: Server, run_dir: Path, delay_ms: int = 100, repeats: int = 7) -> FallbackResult:
    """Time a no-prefetch call (median of ``repeats``) against the single queries it makes, on the
    test FHIR server and on the concurrent stand-in serving that server's answers."""
    base = _load(fhir, record(150))
    templates = httpx.get(service.root + "/cds-services", timeout=30.0).raise_for_status().json()["services"]
    prefetch = next(s for s in templates if s["id"] == SERVICE_PATH.rsplit("/", 1)[1])["prefetch"]
    queries = {key: t.replace("{{context.patientId}}", PATIENT_ID) for key, t in prefetch.items()}
    answers = run_dir / "fhir-answers.json"
    answers.write_bytes(orjson.dumps(_capture(base, queries)))
    _delay(fhir, delay_ms)
    test_server = _times(service, base, queries, repeats)
    stub = start_fhir_stub(run_dir / "fhir-stub.log", answers, delay_ms)
    try:
        concurrent = _times(service, stub.root + "/fhir", queries, repeats)
    finally:
        stub.stop()
    return FallbackResult(delay_ms, test_server, concurrent)
