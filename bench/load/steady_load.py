"""Steady-rate load test: ``cds-service serve`` (one worker) under a fixed request rate.

    python bench/load/steady_load.py --duration 600 --rate 50 --json bench/load/last-run.json

Starts the service on a free 127.0.0.1 port (auth off, SQLite feedback in a temporary directory),
then, from this process, sends hook requests at a constant rate (open loop: a slow answer does not
slow the sending) with an asyncio httpx client. The requests cycle through the vignette requests in
``fhir_fixtures/requests`` (with their prefetch), or a single cervical-MRI request when there are none.
Every few seconds the server's resident memory (RSS) is sampled.

Reports errors (any non-200 answer or transport error), latency percentiles and RSS growth: from
the end of the warm-up to the end of the run. Exits 1 if there was any error or the growth exceeded
``--max-rss-growth-mb``, so the same script is the CI check (tests/integration/test_load.py) and
the long manual run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import orjson
import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: the repository's packages (cds_service, tests) import from its root

from tests.processes import free_port, running  # noqa: E402

SERVICE_FOR_HOOK = {"order-select": "neck-pain-order-select", "order-sign": "neck-pain-order-sign"}


@dataclass
class Report:
    duration_s: float
    rate_target: float
    requests: int
    errors: int
    error_kinds: dict[str, int]
    rate_achieved: float
    latency_ms: dict[str, float]
    rss_mb: list[tuple[float, float]] = field(default_factory=list)
    rss_baseline_mb: float = 0.0
    rss_final_mb: float = 0.0
    rss_growth_mb: float = 0.0
    max_rss_growth_mb: float = 0.0
    request_kinds: int = 0

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.requests > 0 and self.rss_growth_mb < self.max_rss_growth_mb


def request_bodies() -> list[tuple[str, bytes]]:
    """(service path, JSON body) pairs: every vignette request with its prefetch, else one MRI request."""
    from cds_service.fixtures import FIXTURES_DIR, REQUESTS, fixture_names, hook_request

    bodies = []
    names = fixture_names(REQUESTS) if (FIXTURES_DIR / REQUESTS).is_dir() else []
    for name in names:
        body = hook_request(name)
        body.pop("fhirServer", None)  # answer from prefetch only: the load test makes no FHIR calls
        body.pop("fhirAuthorization", None)
        bodies.append((f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", orjson.dumps(body)))
    if not bodies:
        from tests.conftest import condition, hook_body, patient, service_order

        body = hook_body([patient(45), condition("M54.2", "Cervicalgia", 7)], [service_order("72141", "MRI cervical spine")])
        bodies.append(("/cds-services/neck-pain-order-select", orjson.dumps(body)))
    return bodies


@contextmanager
def running_service(workdir: Path) -> Iterator[tuple[str, int]]:
    """``cds-service serve`` (one worker) on a free port until the block ends, once ready; (base URL, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "CDS_HOST": "127.0.0.1",
        "CDS_PORT": str(port),
        "CDS_AUTH_MODE": "off",
        "CDS_LOG_LEVEL": "WARNING",
        "CDS_FEEDBACK_DB_URL": f"sqlite:///{workdir / 'feedback.sqlite3'}",
    }
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "cds_service", "serve", "--workers", "1"]
    with running(command, workdir / "service.log", f"{base}/readyz", name="the service", timeout=60.0,
                 stop_timeout=20, cwd=REPO, env=env, fail=sys.exit) as process:
        yield base, process.pid


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def drive(base: str, pid: int, args: argparse.Namespace) -> Report:
    bodies = request_bodies()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: list[tuple[float, float]] = []
    server = psutil.Process(pid)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=args.timeout) as client:
        in_flight = asyncio.Semaphore(args.concurrency)

        async def one(path: str, body: bytes) -> None:
            async with in_flight:
                started = time.perf_counter()
                try:
                    response = await client.post(path, content=body, headers={"content-type": "application/json"})
                    if response.status_code != 200:
                        errors[f"HTTP {response.status_code}"] = errors.get(f"HTTP {response.status_code}", 0) + 1
                        return
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    return
                latencies.append((time.perf_counter() - started) * 1000)

        async def sample() -> None:
            while True:
                samples.append((round(time.monotonic() - start, 1), server.memory_info().rss / 2**20))
                await asyncio.sleep(args.sample_every)

        start = time.monotonic()
        sampler = asyncio.create_task(sample())
        tasks = []
        for n, (path, body) in enumerate(itertools.cycle(bodies)):
            due = start + n / args.rate
            if due - start >= args.duration:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(path, body)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
        samples.append((round(elapsed, 1), server.memory_info().rss / 2**20))
        sampler.cancel()
    after_warmup = [mb for t, mb in samples if t >= args.warmup] or [samples[-1][1]]
    baseline, final = after_warmup[0], statistics.median(mb for _, mb in samples[-3:])
    return Report(
        duration_s=round(elapsed, 1),
        rate_target=args.rate,
        requests=len(tasks),
        errors=sum(errors.values()),
        error_kinds=errors,
        rate_achieved=round(len(tasks) / elapsed, 1),
        latency_ms={q: round(percentile(latencies, v), 1) for q, v in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        rss_mb=[(t, round(mb, 1)) for t, mb in samples],
        rss_baseline_mb=round(baseline, 1),
        rss_final_mb=round(final, 1),
        rss_growth_mb=round(final - baseline, 1),
        max_rss_growth_mb=args.max_rss_growth_mb,
        request_kinds=len(bodies),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load, warm-up included")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before the RSS baseline is taken")
    parser.add_argument("--sample-every", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--max-rss-growth-mb", type=float, default=30.0, help="fail above this RSS growth after warm-up")
    parser.add_argument("--concurrency", type=int, default=64, help="most requests in flight")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cds-load-") as tmp, running_service(Path(tmp)) as (base, pid):
        report = asyncio.run(drive(base, pid, args))
    out = {**asdict(report), "passed": report.passed}
    text = orjson.dumps(out, option=orjson.OPT_INDENT_2).decode()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    summary = {k: v for k, v in out.items() if k != "rss_mb"}
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
