"""Instructions per call of each suite body through the app in-process, service and floor, counted by
callgrind: the same count on every run of the same code, however loaded or throttled the machine.

    python -m bench.instructions [--calls 60] [--body NAME] [--validation-free] [--features-off]

Each body and app runs in a child process under ``valgrind --tool=callgrind`` (Debian's valgrind),
counting nothing until 30 warm-up calls are done (``callgrind_control -i``), then ``--calls`` calls
as ``bench.asgi`` makes them (each pass over a body a new patient). About 40 s per body and app.
Instructions are not time: the service runs fewer instructions per cycle than the floor (its code is
spread wider, so more of it misses the instruction cache), so compare counts between versions of
the service, and time (``bench.asgi``, ``bench/run``) between the service and the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import asgi
from bench import floor as floor_app
from bench.field import suite

WARMUP = 30


def count(body: str, calls: int, floor: bool, bounds: tuple[str, ...] = ()) -> int:
    """Instructions per call of ``body`` in a child under callgrind; ``bounds``: the service's
    ``--validation-free`` and ``--features-off``."""
    if shutil.which("valgrind") is None:
        raise SystemExit("bench.instructions needs valgrind (apt-get install valgrind)")
    out = Path(tempfile.mkdtemp(prefix="bench-instructions-")) / "callgrind.out"
    child = [sys.executable, "-m", "bench.instructions", "--child", "--calls", str(calls), "--body", body]
    child += ["--floor"] if floor else list(bounds)
    done = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", *child],
                          capture_output=True, text=True, check=False)  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{body}: the callgrind run failed\n{done.stderr[-2000:]}")
    return int(found.group(1)) // calls


async def child(args: argparse.Namespace) -> None:
    """Under callgrind: warm up, count ``--calls`` calls, stop counting. The floor runs alone, without
    the service's app started (whose threads callgrind would count too)."""
    (body,) = suite(args.body)
    app = floor_app.app if args.floor else asgi.service_app(args.validation_free, args.features_off)
    async with app.router.lifespan_context(app):
        await asgi.timed(app, body, WARMUP, 0)
        instrument = ["callgrind_control", "-i"]
        subprocess.run([*instrument, "on", str(os.getpid())], capture_output=True, check=True)
        await asgi.timed(app, body, args.calls, 0)
        subprocess.run([*instrument, "off", str(os.getpid())], capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--body", action="append", default=[])
    parser.add_argument("--validation-free", action="store_true", help="as bench.asgi's (a bound)")
    parser.add_argument("--features-off", action="store_true", help="as bench.asgi's (a bound)")
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    print(f"{'body':<24} {'service':>10} {'floor':>10} | {'floor ÷ service':>15}")
    bounds = ("--validation-free",) * args.validation_free + ("--features-off",) * args.features_off
    for body in suite(args.body):
        service = count(body.name, args.calls, False, bounds)
        floor = count(body.name, args.calls, True)
        print(f"{body.name:<24} {service:>10,} {floor:>10,} | {floor / service:>15.2f}", flush=True)


if __name__ == "__main__":
    main()
