"""HTTP routes of the CDS Hooks API: discovery and service calls."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from cds_service.auth import require_client
from cds_service.content.loader import ContentSet
from cds_service.errors import InvalidRequest, PayloadTooLarge, UnknownService, issues_from_validation
from cds_service.hooks.handler import handle_hook
from cds_service.hooks.models import CDSRequest, DiscoveryResponse
from cds_service.hooks.services import SERVICES, SERVICES_BY_ID, ServiceDeclaration
from cds_service.jsonresponse import JSONResponse
from cds_service.settings import Settings

# Discovery, service calls and feedback all require an authenticated CDS client (unless auth is off).
router = APIRouter(dependencies=[Depends(require_client)])


def get_content(request: Request) -> ContentSet:
    return request.app.state.content.current


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_service(service_id: str) -> ServiceDeclaration:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise UnknownService(service_id)
    return service


ContentDep = Annotated[ContentSet, Depends(get_content)]
AppSettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServiceDep = Annotated[ServiceDeclaration, Depends(get_service)]


def base_url(request: Request, settings: Settings) -> str:
    """The URL clients call, for the rule code system (configurable behind a proxy)."""
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON: 413 over ``limit`` bytes, 400 when not valid UTF-8 JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest.one(f"body is not valid JSON ({exc.msg} at byte {exc.pos})") from None


def parse_request(body: Any) -> CDSRequest:
    if not isinstance(body, dict):
        raise InvalidRequest.one("body must be a JSON object")
    try:
        return CDSRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(issues_from_validation(exc)) from None


@router.get("/cds-services", response_class=JSONResponse, tags=["CDS Hooks"])
async def discovery(content: ContentDep) -> JSONResponse:
    """The services this server offers, generated from their declarations."""
    body = DiscoveryResponse(services=[s.descriptor(content.index) for s in SERVICES])
    return JSONResponse(body.to_wire())


@router.post("/cds-services/{service_id}", response_class=JSONResponse, tags=["CDS Hooks"])
async def call_service(service: ServiceDep, request: Request, content: ContentDep, settings: AppSettingsDep) -> JSONResponse:
    """Evaluate a hook call and answer with cards."""
    hook_request = parse_request(await read_json(request, settings.max_body_bytes))
    outcome = await handle_hook(
        service,
        hook_request,
        content,
        request.app.state.fhir_client,
        settings.prefetch_deadline_seconds,
        base_url(request, settings),
    )
    return JSONResponse(outcome.response.to_wire())
