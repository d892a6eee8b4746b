"""Each suite body through the whole ASGI app in-process: CPU time per call, service and floor.

    python -m bench.asgi [--calls 300] [--body NAME] [--profile OUT.prof]

The service app (``create_app``, started, with its middleware, metrics, access line and served-card
recorder; logs to a file) and the floor app are called directly with an HTTP scope, without a
socket or uvicorn's parser: what is left is the app's own cost per call, free of the machine's load
(``time.process_time``, fastest and median of ``--calls``). ``--profile`` writes a cProfile of the
service's calls on the named body. ``--validation-free`` takes each resource's model from the first
patient it was validated for (the patients differ only by their id suffix): what a call would cost
if validating what the rules read cost nothing, a bound on what any validation speed-up can give.
``--features-off`` switches off what a call pays for beside its cards: the access line, the request
and card metrics, the served-card record and the repeat filter (another bound, not a configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import floor as floor_app
from bench.field import Body, suite, varied
from cds_service.app import create_app
from cds_service.feedback import runtime as feedback
from cds_service.fhir import parse
from cds_service.observability.logging import configure_logging
from cds_service.settings import Settings


patients: list[int] = []  # one per new patient: each gets a suffix no earlier one had


def suffix() -> str:
    """The current patient's id suffix."""
    return f"-a{patients[-1]}"


def validation_free() -> None:
    """Make validating a resource cost a lookup: its model is the one validated for the first patient
    with the same resource (the JSON without the patient's id suffix). The models are the ones the
    service builds, with the first patient's ids and references in them; every suite body answers
    the same cards this way as validated anew."""
    validated = parse._validated
    kept: dict[bytes, Any] = {}

    def reused(raw: dict[str, Any], resource_type: str, cls: Any, memo: dict[Any, Any] | None) -> Any:
        key = orjson.dumps(raw).replace(suffix().encode(), b"")
        if key not in kept:
            kept[key] = validated(raw, resource_type, cls, memo)
        return kept[key]

    parse._validated = reused


def scope_for(path: str, size: int) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                    (b"content-length", str(size).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip


async def call(app: Any, service: str, raw: bytes) -> int:
    """One POST; its status."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_for(f"/cds-services/{service}", len(raw)), receive, send)
    return status


async def timed(app: Any, body: Body, calls: int, warmup: int = 30) -> tuple[float, float]:
    """(fastest, median) CPU µs per call of ``body`` (each of its calls counts once), a new patient
    for each pass over its calls, as ``bench/post.lua`` sends them."""
    times = []
    for i in range(warmup + calls):
        service, marked = body.calls[i % len(body.calls)]
        if i % len(body.calls) == 0:
            patients.append(len(patients))
        raw = varied(marked, suffix())
        started = time.process_time()
        status = await call(app, service, raw)
        spent = time.process_time() - started
        if status != 200:
            raise RuntimeError(f"{body.name}: {status}")
        if i >= warmup:
            times.append(spent * 1e6)
        await asyncio.sleep(0)  # between calls, as a server's loop does: the card recorder's writer gets its turns
    return min(times), statistics.median(times)


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def features_off(app: Any, assign: Callable[[Any, str, Any], None] = setattr) -> None:
    """Switch off, in this process, the per-call features beside the cards (set with ``assign``): the
    access line, the request and card metrics, the served-card record and the repeat filter."""
    metrics = app.state.metrics
    assign(logging.getLogger("cds_service.access"), "disabled", True)
    assign(metrics, "observe_request", _nothing)
    assign(metrics, "observe_outcome", _nothing)
    assign(feedback, "record_served", _nothing)
    assign(app.state, "seen_cards", None)


def service_app(free: bool = False, off: bool = False) -> Any:
    """The service app as shipped (auth off, SQLite feedback and the log in a new directory), not yet
    started; with ``free``, ``validation_free``; with ``off``, ``features_off``."""
    directory = Path(tempfile.mkdtemp(prefix="bench-asgi-"))
    settings = Settings(auth_mode="off", content_poll_seconds=0, feedback_db_url=f"sqlite:///{directory / 'f.sqlite3'}",
                        feedback_state_dir=directory / "recorder-state")
    configure_logging(settings.log_level, settings.log_json)
    root = logging.getLogger()
    for handler in root.handlers:  # the access lines go to a file, as the benchmark's server log does
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(directory / "service.log", "w"))  # noqa: SIM115
    app = create_app(settings)
    if free:
        validation_free()
    if off:
        features_off(app)
    return app


async def run(args: argparse.Namespace) -> None:
    app = service_app(args.validation_free, args.features_off)
    async with app.router.lifespan_context(app):
        print(f"{'body':<24} {'res':>5} {'KB':>5} | {'service µs':>10} {'median':>7} | {'floor µs':>8} {'median':>7} | {'ratio':>5}")
        for body in suite(args.body):
            if args.profile:
                await timed(app, body, 20)
                profiler = cProfile.Profile()
                profiler.enable()
                await timed(app, body, args.calls, 0)
                profiler.disable()
                profiler.dump_stats(args.profile)
                continue
            s_fast, s_med = await timed(app, body, args.calls)
            f_fast, f_med = await timed(floor_app.app, body, args.calls)
            print(f"{body.name:<24} {body.resources:>5} {body.kb:>5.0f} | {s_fast:>10.0f} {s_med:>7.0f} | "
                  f"{f_fast:>8.0f} {f_med:>7.0f} | {f_med / s_med:>5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.asgi", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--body", action="append", default=[])
    parser.add_argument("--profile")
    parser.add_argument("--validation-free", action="store_true", help="validating a resource costs a lookup (a bound)")
    parser.add_argument("--features-off", action="store_true", help="no access line, metrics, card record or repeat filter (a bound)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
