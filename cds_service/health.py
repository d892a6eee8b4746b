"""Liveness, readiness and the Prometheus metrics endpoint (``metrics_router``: on the service port
only outside production and when no ``CDS_METRICS_PORT`` is set)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from cds_service.jsonresponse import JSONResponse
from cds_service.observability.readiness import check_readiness

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])


@router.get("/healthz", response_class=JSONResponse)
async def healthz() -> JSONResponse:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", response_class=JSONResponse, responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> JSONResponse:
    """Content is loaded and storage is reachable: 200, else 503 naming the failing check.

    Content that serves but is degraded — rules whose cards were dropped at run time, or a reload
    that was rejected (the previous content keeps serving) — answers 200 with status "degraded"
    and says which: every replica serves the same content, so taking this one out of rotation
    would drop every other card too without bringing the lost ones back.
    """
    readiness = await check_readiness(request.app.state)
    request.app.state.metrics.ready.set(1 if readiness.ready else 0)
    content = readiness.checks["content"]
    degraded = bool(content["rule_errors"] or content["reload_problems"])
    body: dict[str, object] = {
        "status": "not-ready" if not readiness.ready else "degraded" if degraded else "ready",
        "content_version": content["version"],
        "rules": content["rules"],
        "checks": {name: check["ok"] for name, check in readiness.checks.items()},
    }
    if degraded:
        body["degraded"] = {"rule_errors": content["rule_errors"], "reload_problems": content["reload_problems"]}
    return JSONResponse(body, status_code=200 if readiness.ready else 503)


@metrics_router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    readiness = await check_readiness(request.app.state)
    request.app.state.metrics.ready.set(1 if readiness.ready else 0)
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
