"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cds_service.jsonresponse import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_class=JSONResponse)
async def healthz() -> JSONResponse:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", response_class=JSONResponse)
async def readyz(request: Request) -> JSONResponse:
    """Content is loaded and the service can answer hooks."""
    content = request.app.state.content.current
    return JSONResponse({"status": "ready", "content_version": content.version, "rules": len(content.rules)})
