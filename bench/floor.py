"""The floor: a bare FastAPI app that reads and JSON-parses the request body and answers no cards.

    python -m bench.floor --port 8101

It runs under uvicorn's defaults, one worker, with the same event loop and HTTP parser as the
service (uvloop, httptools) and uvicorn's own access line per request where the service writes its
one access line, so the ratio service/floor is the cost of the service's own work on the same body.
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> dict[str, Any]:
    await request.json()
    return {"cards": []}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the floor app on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
