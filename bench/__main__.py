"""``python -m bench``: the service against the framework's floor, the FHIR fallback, cost growth.

Run from the repository root (``bench/run`` does, after checking wrk and the FHIR test server).
Prints tables and writes ``bench/results/bench-<time>.json`` and ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import servers
from bench.fallback import FallbackResult, run_fallback, start_fhir_server
from bench.growth import run_growth
from bench.wrk import LoadResult, combine, require_wrk, run_wrk
from bench.records import hook_request

RESULTS = Path(__file__).resolve().parent / "results"
SANDBOX_REQUEST = servers.REPO / "tests" / "data" / "sandbox-requests" / "order-select-rx.json"
SERVICE_PATH = "/cds-services/neck-pain-order-select"
TARGETS = {"ratio": 0.50, "stretch_typical": 0.75, "stretch_heavy": 0.60, "p99_factor": 3.0,
           "fallback_factor": 1.3, "rss_mb": 200.0}


def bodies(directory: Path) -> dict[str, Path]:
    """The three request bodies: the Sandbox's small order-select, a typical and a heavy record."""
    directory.mkdir(parents=True, exist_ok=True)
    sandbox = orjson.loads(SANDBOX_REQUEST.read_bytes())
    sandbox.pop("fhirServer", None)  # answer from its prefetch only: no network in the load test
    sandbox.pop("fhirAuthorization", None)
    made = {"sandbox": sandbox, "typical-150": hook_request(150), "heavy-1000": hook_request(1000)}
    paths = {}
    for name, body in made.items():
        paths[name] = directory / f"{name}.json"
        paths[name].write_bytes(orjson.dumps(body))
    return paths


def check(server: servers.Server, body: Path) -> int:
    """One call must succeed; the number of cards it answered with."""
    response = httpx.post(server.root + SERVICE_PATH, content=body.read_bytes(),
                          headers={"Content-Type": "application/json"}, timeout=30.0)
    if response.status_code != 200:
        raise RuntimeError(f"{server.name} answered {response.status_code} to {body.name}: {response.text[:500]}")
    return len(response.json()["cards"])


def load_pair(service: servers.Server, floor: servers.Server, body: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Warm both, then alternate service and floor runs; the rounds combined per server."""
    for server in (service, floor):
        run_wrk(server, SERVICE_PATH, body, args.warmup, args.connections)
    rounds: dict[str, list[LoadResult]] = {"service": [], "floor": []}
    seconds = args.duration / args.rounds
    for _ in range(args.rounds):
        for server in (floor, service):
            rounds[server.name].append(run_wrk(server, SERVICE_PATH, body, seconds, args.connections))
    result: dict[str, Any] = {name: combine(r).as_dict() for name, r in rounds.items()}
    result["ratio_rps"] = round(result["service"]["rps"] / result["floor"]["rps"], 3)
    result["ratio_p99"] = round(result["service"]["p99_ms"] / result["floor"]["p99_ms"], 2)
    result["ratio_cpu"] = round(result["floor"]["cpu_ms_per_request"] / result["service"]["cpu_ms_per_request"], 3)
    return result


def print_load(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nService vs floor: wrk -t1 -c{args.connections}, {args.rounds} x {args.duration / args.rounds:g} s "
          f"per server and body, alternating; 127.0.0.1, one worker each")
    head = (f"{'request':<12} {'body':>7} {'cards':>5} | {'service':>7} {'p50':>6} {'p99':>6} {'cpu/req':>7} | "
            f"{'floor':>7} {'p50':>6} {'p99':>6} {'cpu/req':>7} | {'x floor':>7} {'p99 x':>5} {'cpu x':>5}")
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        s, f = r["service"], r["floor"]
        print(f"{name:<12} {r['body_kb']:>5.0f}KB {r['cards']:>5} | {s['rps']:>7.0f} {s['p50_ms']:>6.1f} {s['p99_ms']:>6.1f} "
              f"{s['cpu_ms_per_request']:>7.2f} | {f['rps']:>7.0f} {f['p50_ms']:>6.1f} {f['p99_ms']:>6.1f} "
              f"{f['cpu_ms_per_request']:>7.2f} | {r['ratio_rps']:>7.2f} {r['ratio_p99']:>5.1f} {r['ratio_cpu']:>5.2f}")
    print("req/s; latency and CPU time per request in ms. 'x floor' = service/floor req/s; 'p99 x' = service/floor p99;\n"
          "'cpu x' = floor/service server CPU per request (the same ratio, free of wrk sharing the cores).")


def print_fallback(fb: FallbackResult) -> None:
    print(f"\nFHIR fallback (no prefetch, typical record, {fb.delay_ms} ms timer on every FHIR request, "
          f"{len(fb.concurrent.queries_ms)} queries)")
    head = f"{'FHIR server':<32} {'call':>6} {'slowest':>7} {'sum':>6} {'together':>8} | {'x slowest':>9} {'x together':>10}"
    print(head)
    print("-" * len(head))
    for label, t in (("answering concurrently (stub)", fb.concurrent), ("test server (one Node process)", fb.test_server)):
        print(f"{label:<32} {t.call_ms:>6.0f} {t.slowest_query_ms:>7.0f} {t.sequential_sum_ms:>6.0f} {t.together_ms:>8.0f} | "
              f"{t.ratio:>9.2f} {t.ratio_together:>10.2f}")
    print("ms. call: the service's hook call; slowest/sum: each query alone (service's FhirClient); together: the same\n"
          "queries fired at once by a bare client. The test server searches one query at a time, so 'together' is\n"
          "the least any client can take there; the stub (bench/fhir_stub.py) serves that server's answers concurrently.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per server and body (8)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating rounds the duration is split into (4): the machine's speed drifts over seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server and body (2)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (8)")
    parser.add_argument("--delay-ms", type=int, default=100, help="FHIR server delay per query (100)")
    parser.add_argument("--skip", action="append", default=[], choices=["load", "fallback", "growth"])
    args = parser.parse_args(argv)
    if "load" not in args.skip:
        require_wrk()

    started = dt.datetime.now(dt.timezone.utc)
    run_dir = RESULTS / f"run-{started:%Y%m%dT%H%M%SZ}"
    out: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": vars(args),
    }
    service = servers.service(run_dir / "service.log", run_dir)
    floor = servers.floor(run_dir / "floor.log") if "load" not in args.skip else None
    fhir = None
    try:
        if floor is not None:
            load: dict[str, Any] = {}
            for name, body in bodies(run_dir / "bodies").items():
                cards = check(service, body)
                if name != "sandbox" and not cards:
                    raise RuntimeError(f"{name}: no cards; the generated record must keep the rules running")
                check(floor, body)
                load[name] = {"body_kb": round(body.stat().st_size / 1024, 1), "cards": cards,
                              **load_pair(service, floor, body, args)}
            out["load"] = load
            out["peak_rss_mb"] = {"service": round(service.peak_rss_mb(), 1), "floor": round(floor.peak_rss_mb(), 1)}
            print_load(load, args)
            print(f"Peak RSS: service {out['peak_rss_mb']['service']:.0f} MB, floor {out['peak_rss_mb']['floor']:.0f} MB")
        if "fallback" not in args.skip:
            fhir = start_fhir_server(run_dir / "fhir-server.log")
            fb = run_fallback(service, fhir, run_dir, args.delay_ms)
            out["fallback"] = {"delay_ms": fb.delay_ms, "test_server": fb.test_server.as_dict(),
                               "concurrent": fb.concurrent.as_dict()}
            print_fallback(fb)
    finally:
        for server in (fhir, floor, service):
            if server is not None:
                server.stop()
    if "growth" not in args.skip:
        growth = run_growth()
        out["growth"] = {"points": growth.points, "fixed_ms": growth.fixed_ms, "ms_per_1000": growth.ms_per_1000,
                         "r_squared": growth.r_squared}
        print("\nCost growth (in-process: parse, validate, handle, render; median ms per request)")
        print(f"{'resources':>9} {'ms':>8} {'us/resource':>11}")
        for size, ms in growth.points:
            print(f"{size:>9} {ms:>8.2f} {ms * 1000 / size:>11.1f}")
        print(f"fit: {growth.fixed_ms:.2f} ms + {growth.ms_per_1000:.2f} ms per 1,000 resources (R^2 = {growth.r_squared})")
    out["targets"] = verdicts(out)
    print("\nTargets")
    for line in out["targets"]:
        print(f"  [{verdict_label(line)}] {line['what']}: {line['value']}")
    RESULTS.mkdir(exist_ok=True)
    text = orjson.dumps(out, option=orjson.OPT_INDENT_2)
    (run_dir / "results.json").write_bytes(text)
    shutil.copyfile(run_dir / "results.json", RESULTS / "latest.json")
    print(f"\nResults: {run_dir / 'results.json'}")
    return 0


def verdict_label(line: dict[str, Any]) -> str:
    """``pass``; ``FAIL`` for a missed target; ``miss`` for a missed stretch line (beyond the targets)."""
    return "pass" if line["ok"] else "miss" if line.get("stretch") else "FAIL"


def verdicts(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target (and stretch line) with the run's value and whether it is met."""
    lines = []

    def add(what: str, value: str, ok: bool, stretch: bool = False) -> None:
        lines.append({"what": what, "value": value, "ok": ok, "stretch": stretch})

    load = out.get("load", {})
    for name, stretch in (("typical-150", TARGETS["stretch_typical"]), ("heavy-1000", TARGETS["stretch_heavy"])):
        if name in load:
            ratio = load[name]["ratio_rps"]
            add(f"{name} >= {TARGETS['ratio']:.2f} x floor req/s", f"{ratio:.2f}", ratio >= TARGETS["ratio"])
            add(f"{name} stretch >= {stretch:.2f} x floor req/s (beyond the targets)", f"{ratio:.2f}", ratio >= stretch, stretch=True)
    for name, r in load.items():
        add(f"{name} p99 <= {TARGETS['p99_factor']:g} x floor p99", f"{r['ratio_p99']:.2f}", r["ratio_p99"] <= TARGETS["p99_factor"])
    if "fallback" in out:
        factor = TARGETS["fallback_factor"]
        ratio = out["fallback"]["concurrent"]["ratio"]
        add(f"fallback <= {factor} x slowest query (FHIR server answering concurrently)", f"{ratio:.2f}", ratio <= factor)
        direct = out["fallback"]["test_server"]["ratio_together"]
        add(f"fallback <= {factor} x the same queries fired together (test FHIR server, no service)", f"{direct:.2f}",
            direct <= factor)
    if "peak_rss_mb" in out:
        rss = out["peak_rss_mb"]["service"]
        add(f"service peak RSS <= {TARGETS['rss_mb']:.0f} MB", f"{rss:.0f} MB", rss <= TARGETS["rss_mb"])
    return lines


if __name__ == "__main__":
    sys.exit(main())
