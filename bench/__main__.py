"""``python -m bench``: the service against the framework's floor on the suite's bodies, the FHIR fallback, cost growth.

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
from bench.field import Body, suite, varied

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"ratio": 0.50, "ratio_large": 0.75, "large_resources": 100, "p99_factor": 3.0,
           "fallback_factor": 1.3, "rss_mb": 200.0}


def write_calls(body: Body, directory: Path) -> Path:
    """The body's calls as ``bench/post.lua`` reads them: a list file and one marked body file per call."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (service, raw) in enumerate(body.calls):
        path = directory / f"{body.name}-{i}.json"
        path.write_bytes(raw)
        lines.append(f"/cds-services/{service}\t{path}\n")
    listing = directory / f"{body.name}.calls"
    listing.write_text("".join(lines))
    return listing


def check(server: servers.Server, body: Body) -> int:
    """Each call of the body must succeed, as sent and with a suffix on its ids (a new patient, as wrk sends
    it) alike; the number of cards of its calls (the same either way, or the body is not what it says)."""
    cards = []
    for suffix in ("", "-v0"):
        count = 0
        for service, raw in body.calls:
            response = httpx.post(f"{server.root}/cds-services/{service}", content=varied(raw, suffix),
                                  headers={"Content-Type": "application/json"}, timeout=30.0)
            if response.status_code != 200:
                raise RuntimeError(f"{server.name} answered {response.status_code} to {body.name}: {response.text[:500]}")
            count += len(response.json()["cards"])
        cards.append(count)
    if cards[0] != cards[1]:
        raise RuntimeError(f"{body.name}: {cards[0]} cards as sent, {cards[1]} with new ids")
    return cards[0]


def load_pair(service: servers.Server, floor: servers.Server, calls: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Warm both, then alternate service and floor runs; the rounds combined per server."""
    for server in (service, floor):
        run_wrk(server, calls, args.warmup, args.connections)
    rounds: dict[str, list[LoadResult]] = {"service": [], "floor": []}
    seconds = args.duration / args.rounds
    for _ in range(args.rounds):
        for server in (floor, service):
            rounds[server.name].append(run_wrk(server, calls, seconds, args.connections))
    result: dict[str, Any] = {name: combine(r).as_dict() for name, r in rounds.items()}
    result["ratio_rps"] = round(result["service"]["rps"] / result["floor"]["rps"], 3)
    result["ratio_p99"] = round(result["service"]["p99_ms"] / result["floor"]["p99_ms"], 2)
    result["ratio_cpu"] = round(result["floor"]["cpu_ms_per_request"] / result["service"]["cpu_ms_per_request"], 3)
    return result


def worst(load: dict[str, Any]) -> tuple[str, float]:
    """The body with the lowest service/floor req/s, and that ratio: the headline."""
    name = min(load, key=lambda n: load[n]["ratio_rps"])
    return name, load[name]["ratio_rps"]


def print_load(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nService vs floor: wrk -t1 -c{args.connections}, {args.rounds} x {args.duration / args.rounds:g} s "
          f"per server and body, alternating; 127.0.0.1, one worker each; a new patient every pass")
    head = (f"{'body':<24} {'res':>4} {'KB':>4} {'cards':>5} | {'service':>7} {'p50':>6} {'p99':>6} {'cpu/req':>7} | "
            f"{'floor':>7} {'p50':>6} {'p99':>6} {'cpu/req':>7} | {'x floor':>7} {'p99 x':>5} {'cpu x':>5}")
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        s, f = r["service"], r["floor"]
        print(f"{name:<24} {r['resources']:>4} {r['body_kb']:>4.0f} {r['cards']:>5} | {s['rps']:>7.0f} {s['p50_ms']:>6.1f} "
              f"{s['p99_ms']:>6.1f} {s['cpu_ms_per_request']:>7.2f} | {f['rps']:>7.0f} {f['p50_ms']:>6.1f} {f['p99_ms']:>6.1f} "
              f"{f['cpu_ms_per_request']:>7.2f} | {r['ratio_rps']:>7.2f} {r['ratio_p99']:>5.1f} {r['ratio_cpu']:>5.2f}")
    print("res: resources in the prefetch; req/s; latency and CPU time per request in ms. 'x floor' = service/floor\n"
          "req/s; 'p99 x' = service/floor p99; 'cpu x' = floor/service server CPU per request (the same ratio, free of\n"
          "wrk sharing the cores).")
    name, ratio = worst(results)
    print(f"Worst service/floor req/s: {ratio:.2f} ({name})")


def markdown_table(results: dict[str, Any]) -> str:
    """The load table in Markdown, as the README shows it."""
    lines = ["| body | resources | KB | cards | service req/s | p50 / p99 ms | CPU ms/req | floor req/s | p50 / p99 ms "
             "| CPU ms/req | service ÷ floor req/s | p99 ÷ floor p99 |", "|---" * 12 + "|"]
    for name, r in results.items():
        s, f = r["service"], r["floor"]
        lines.append(f"| {name} | {r['resources']} | {r['body_kb']:.0f} | {r['cards']} | {s['rps']:,.0f} | "
                     f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} | {s['cpu_ms_per_request']:.2f} | {f['rps']:,.0f} | "
                     f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f} | {f['cpu_ms_per_request']:.2f} | {r['ratio_rps']:.2f} | "
                     f"{r['ratio_p99']:.1f} |")
    return "\n".join(lines)


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
    parser.add_argument("--body", action="append", default=[], help="only this body of the suite (repeatable)")
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
            for body in suite(args.body):
                cards = check(service, body)
                if body.name != "sandbox-rx" and not cards:
                    raise RuntimeError(f"{body.name}: no cards; the record must keep the rules running")
                check(floor, body)
                calls = write_calls(body, run_dir / "bodies")
                load[body.name] = {"resources": body.resources, "body_kb": round(body.kb, 1), "cards": cards,
                                   "calls": [s for s, _ in body.calls], "what": body.what,
                                   **load_pair(service, floor, calls, args)}
            out["load"] = load
            out["worst"] = dict(zip(("body", "ratio_rps"), worst(load)))
            out["peak_rss_mb"] = {"service": round(service.peak_rss_mb(), 1), "floor": round(floor.peak_rss_mb(), 1)}
            print_load(load, args)
            (run_dir / "table.md").write_text(markdown_table(load) + "\n")
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
    """``pass`` or ``FAIL``."""
    return "pass" if line["ok"] else "FAIL"


def verdicts(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the run's value and whether it is met."""
    lines = []

    def add(what: str, value: str, ok: bool) -> None:
        lines.append({"what": what, "value": value, "ok": ok})

    load = out.get("load", {})
    if load:
        name, ratio = worst(load)
        add(f"worst body >= {TARGETS['ratio']:.2f} x floor req/s ({name})", f"{ratio:.2f}", ratio >= TARGETS["ratio"])
    for name, r in load.items():
        if r["resources"] >= TARGETS["large_resources"]:
            add(f"{name} ({r['resources']} resources) >= {TARGETS['ratio_large']:.2f} x floor req/s",
                f"{r['ratio_rps']:.2f}", r["ratio_rps"] >= TARGETS["ratio_large"])
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
