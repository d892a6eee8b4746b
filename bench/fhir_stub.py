"""A FHIR server stand-in that answers concurrently, for the fallback benchmark.

    python -m bench.fhir_stub --port 8102 --answers answers.json --delay-ms 100

``answers.json`` maps each query (``Condition?patient=…``, ``Patient/…``) to the exact JSON the
test FHIR server (tests/fhir_server) answered to it; ``bench/fallback.py`` captures them. Every
request waits ``--delay-ms`` on a timer and then sends its captured answer, so requests overlap
completely: eight queries fired together take about as long as one. The one-process Node test
server cannot show that, since it searches one query at a time; against this stand-in the
fallback call shows what the service itself adds to the slowest query.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

FHIR_BASE = "/fhir/"


def query_key(path_with_query: str) -> str:
    """A query's path and parameters in one canonical form (parameters sorted, one encoding)."""
    path, _, query = path_with_query.partition("?")
    path = path.strip("/")
    return f"{path}?{urlencode(sorted(parse_qsl(query, keep_blank_values=True)))}" if query else path


class Stub:
    """The ASGI app: ``GET /fhir/<query>`` answers the captured JSON after the delay; 404 otherwise."""

    def __init__(self, answers: dict[str, bytes], delay_ms: int) -> None:
        self.answers = answers
        self.delay = delay_ms / 1000

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path, query = scope["path"], scope["query_string"].decode()
        if path == "/__health":
            await _answer(send, 200, b'{"status":"ok"}')
            return
        body = self.answers.get(query_key(path.removeprefix(FHIR_BASE) + (f"?{query}" if query else "")))
        await asyncio.sleep(self.delay)
        await _answer(send, 404 if body is None else 200, body or b'{"resourceType":"OperationOutcome"}')


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve captured FHIR answers concurrently on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answers", type=Path, required=True, help="JSON object: query -> answer")
    parser.add_argument("--delay-ms", type=int, default=100)
    args = parser.parse_args()
    captured = orjson.loads(args.answers.read_bytes())
    answers = {query_key(query): orjson.dumps(answer) for query, answer in captured.items()}
    uvicorn.run(Stub(answers, args.delay_ms), host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
