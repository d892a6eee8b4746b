"""``RequestObserver``: one log line and the request metrics for every HTTP request.

A pure ASGI middleware (no body buffering). It times the request, notes the status sent (500
when the app raised before answering) and then

* counts it in ``cds_http_requests_total`` / ``cds_http_request_duration_seconds`` labelled with
  the route template (``/cds-services/{service_id}``, never the raw path), the service id and
  the status;
* logs ``request`` (logger ``cds_service.access``) with ``method``, ``route``, ``service_id``,
  ``status``, ``duration_ms`` and whatever the route added with ``annotate`` — for hook calls
  ``hook_instance``, ``rule_ids``, ``shadow_rule_ids``, ``content_version``, ``unavailable``
  (prefetch key → reason) and ``prefetch_fetched``: the one INFO line of a hook call. Health
  checks and scrapes log at DEBUG. Never a header, a body or a query string.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.protocol.services import SERVICES_BY_ID
from cds_service.observability.metrics import Metrics

log = logging.getLogger("cds_service.access")

LOG_FIELDS = "log_fields"
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"


def annotate(request: Request, **fields: Any) -> None:
    """Add ``fields`` (ids and codes only, never PHI) to this request's log line."""
    state = request.scope.setdefault("state", {})
    state.setdefault(LOG_FIELDS, {}).update(fields)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _service_id(scope: Scope) -> str:
    value = (scope.get("path_params") or {}).get("service_id")
    if value is None:
        return ""
    return value if value in SERVICES_BY_ID else "unknown"


class RequestObserver:
    """Times, counts and logs each HTTP request passing through ``app``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route, service_id = _route(scope), _service_id(scope)
        self.metrics.observe_request(route, service_id, status, seconds)
        state = scope.get("state")
        fields = dict(state.get(LOG_FIELDS, {})) if isinstance(state, dict) else {}
        fields.update(
            method=scope.get("method", ""),
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
        if service_id:
            fields["service_id"] = service_id
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        log.log(level, "request", extra=fields)
