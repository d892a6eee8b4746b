"""HTTP routes of the CDS Hooks API: discovery, service calls and feedback."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.routing import Match, Route, Router
from starlette.types import Scope

from cds_service.auth import ClientIdentity, require_client
from cds_service.content.loader import ContentSet
from cds_service.errors import (
    Forbidden,
    InvalidRequest,
    PreconditionFailed,
    PayloadTooLarge,
    UnknownService,
    UnsupportedMedia,
    issues_from_validation,
)
from cds_service.feedback import runtime as feedback
from cds_service.feedback.intake import parse_feedback
from cds_service.hooks.handler import handle_hook
from cds_service.protocol.models import CDSRequest, DiscoveryResponse
from cds_service.hooks.openapi import FEEDBACK_REQUEST, FEEDBACK_RESPONSES, HOOK_REQUEST, HOOK_RESPONSES
from cds_service.protocol.services import SERVICES, SERVICES_BY_ID, ServiceDeclaration
from cds_service.jsonresponse import JSONResponse, SerialisedJSON
from cds_service.observability.middleware import annotate
from cds_service.origin import own_base_urls
from cds_service.settings import Settings

# Discovery, service calls and feedback all require an authenticated CDS client (unless auth is
# off): each route awaits ``require_client`` first, before reading anything of the request. A
# router-level ``Depends(require_client)`` does the same, but FastAPI's dependency solving costs
# more per call than the check itself.
router = APIRouter()
HOOK_CALL_PATH = "/cds-services/{service_id}"


def get_service(request: Request) -> ServiceDeclaration:
    """The service named by the path's ``service_id`` (documented with the ids served in
    ``hooks/openapi.py``); any other id is answered 404."""
    service_id = request.path_params["service_id"]
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise UnknownService(service_id)
    return service


async def accept_call(request: Request) -> tuple[ServiceDeclaration, Any, ClientIdentity | None]:
    """What every POST to a service starts with, in this order: an authenticated client (401/403),
    a known service (404), then its JSON body (415, 413, 400)."""
    client = await require_client(request)
    service = get_service(request)
    settings: Settings = request.app.state.settings
    return service, await read_json(request, settings.max_body_bytes), client


def check_fhir_server(client: ClientIdentity | None, fhir_server: str | None) -> None:
    """403 when the client's issuer lists the FHIR servers it may name and ``fhir_server`` is not one."""
    if client is not None and fhir_server is not None and not client.may_use(fhir_server):
        raise Forbidden("fhirServer is not a FHIR server this client may name")


_BASE_URLS: dict[tuple[Any, ...], str] = {}
_BASE_URLS_MAX = 256


def base_url(request: Request, settings: Settings) -> str:
    """The URL clients call, for the rule code system: ``CDS_PUBLIC_BASE_URL``, else the connection's
    own scheme, address and root path (``cds_service.origin``; never the Host header), built once per set."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    scope = request.scope
    server = scope.get("server")
    key = (scope.get("scheme"), tuple(server) if server else None, scope.get("root_path"), scope.get("app_root_path"))
    found = _BASE_URLS.get(key)
    if found is None:
        if len(_BASE_URLS) >= _BASE_URLS_MAX:
            _BASE_URLS.clear()
        found = _BASE_URLS[key] = own_base_urls(scope, None)[0]
    return found


def is_json(content_type: str | None) -> bool:
    """A missing Content-Type, ``application/json`` or any ``application/…+json`` media type."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON: 415 when declared as another media type, 413 over ``limit``
    bytes (declared or streamed, chunked bodies included), 400 when not valid UTF-8 JSON."""
    if not is_json(request.headers.get("content-type")):
        raise UnsupportedMedia()
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
async def discovery(request: Request) -> JSONResponse:
    """The services this server offers, generated from their declarations."""
    await require_client(request)
    content: ContentSet = request.app.state.content.current
    body = DiscoveryResponse(services=[s.descriptor(content.index) for s in SERVICES])
    return JSONResponse(body.to_wire())


@router.post(
    HOOK_CALL_PATH,
    response_class=JSONResponse,
    tags=["CDS Hooks"],
    openapi_extra=HOOK_REQUEST,
    responses=HOOK_RESPONSES,
)
async def call_service(request: Request) -> SerialisedJSON:
    """Evaluate a hook call and answer with cards."""
    # The client, service, content and settings are read here rather than as dependencies: each
    # dependency FastAPI solves costs more than the attribute read it stands for, per call.
    service, body, client = await accept_call(request)
    hook_request = parse_request(body)
    check_fhir_server(client, hook_request.fhir_server)
    state = request.app.state
    content: ContentSet = state.content.current
    settings: Settings = state.settings
    annotate(request, hook_instance=str(hook_request.hook_instance), content_version=content.version)
    try:
        outcome = await handle_hook(
            service,
            hook_request,
            content,
            state.fhir_client,
            settings.prefetch_deadline_seconds,
            base_url(request, settings),
            seen=state.seen_cards,
        )
    except PreconditionFailed as exc:  # a 412's access line, too, names the keys that could not be read
        state.metrics.observe_unavailable(exc.unavailable)
        annotate(request, unavailable=dict(sorted(exc.unavailable.items())))
        raise
    feedback.record_served(state.feedback, service.id, str(hook_request.hook_instance), outcome, content.version)
    state.metrics.observe_outcome(outcome, content)
    if outcome.failed:  # readiness counts those the content is at fault for (content.store)
        state.content.note_rule_errors(outcome.errors, outcome.unrendered, content)
    annotate(
        request,
        rule_ids=[f.rule_id for f, _ in outcome.shown],
        shadow_rule_ids=[f.rule_id for f in outcome.shadow],
        unavailable=dict(sorted(outcome.unavailable.items())),  # key -> reason code
        prefetch_fetched=list(outcome.fetched),
    )  # the one INFO line of a call: what the DEBUG "hook evaluated" and "prefetch resolved" lines say
    return SerialisedJSON(outcome.response.wire_json())


class _HookCallRoute(Route):
    """A Starlette route that names itself in the scope, as FastAPI's routes do (the access line and
    the metrics label requests with the route's path template)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def serve_hook_calls(app_router: Router) -> None:
    """Serve hook calls with ``call_service`` as a plain Starlette route, ahead of (and shadowing) its
    FastAPI route above, which stays as the OpenAPI documentation of the call. ``call_service`` reads
    its request itself and solves no dependency, so FastAPI's request handler would only add its
    per-call bookkeeping (parameter solving, response wrapping) — the
    hottest path of the service. Errors reach the same exception handlers either way."""
    app_router.routes.append(_HookCallRoute(HOOK_CALL_PATH, call_service, methods=["POST"], include_in_schema=False))


@router.post(
    "/cds-services/{service_id}/feedback",
    response_class=JSONResponse,
    tags=["CDS Hooks"],
    openapi_extra=FEEDBACK_REQUEST,
    responses=FEEDBACK_RESPONSES,
)
async def receive_feedback(request: Request) -> JSONResponse:
    """Store what the user did with cards (accepted or overridden); resending an item is harmless."""
    service, body, _ = await accept_call(request)
    items = parse_feedback(body)
    await feedback.receive(request.app.state.feedback, service.id, items)
    return JSONResponse({})
