"""wrk: POST one body at a fixed concurrency and read throughput and latency.

``bench/post.lua`` makes wrk POST the calls listed in the file named by ``BENCH_CALLS`` in turn,
a new patient for each pass over them, and print one JSON summary line (requests, duration,
p50/p90/p99 latency, errors). Any error or non-2xx answer fails the
run: a fast error is not a result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.servers import Server

LUA = Path(__file__).resolve().parent / "post.lua"


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms_per_request: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run bench/run, which installs it)")
    return path


def run_wrk(server: Server, calls: Path, seconds: float, connections: int) -> LoadResult:
    """One wrk run (one thread) of the calls listed in ``calls`` against ``server``; CPU time is the server's own."""
    argv = [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(LUA),
            server.root]
    cpu_before = server.cpu_seconds()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "BENCH_CALLS": str(calls)},
                          timeout=seconds + 60)
    cpu = server.cpu_seconds() - cpu_before
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    summary = json.loads(lines[-1].removeprefix("BENCH "))
    errors = {k: v for k, v in summary["errors"].items() if v}
    if errors or not summary["requests"]:
        raise RuntimeError(f"{server.name} {calls.stem}: wrk saw errors {errors} in {summary['requests']} requests")
    duration = summary["duration_us"] / 1e6
    return LoadResult(
        requests=summary["requests"],
        seconds=round(duration, 3),
        rps=round(summary["requests"] / duration, 1),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        max_ms=summary["max_us"] / 1000,
        cpu_ms_per_request=round(cpu * 1000 / summary["requests"], 3),
    )


def combine(rounds: list[LoadResult]) -> LoadResult:
    """Several rounds as one: total throughput, median p50, worst p99 and max, mean CPU/request."""
    requests = sum(r.requests for r in rounds)
    seconds = sum(r.seconds for r in rounds)
    p50s = sorted(r.p50_ms for r in rounds)
    return LoadResult(
        requests=requests,
        seconds=round(seconds, 3),
        rps=round(requests / seconds, 1),
        p50_ms=p50s[len(p50s) // 2],
        p99_ms=max(r.p99_ms for r in rounds),
        max_ms=max(r.max_ms for r in rounds),
        cpu_ms_per_request=round(sum(r.cpu_ms_per_request * r.requests for r in rounds) / requests, 3),
    )
