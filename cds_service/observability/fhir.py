"""``InstrumentedFhirClient``: the FHIR fallback client, counting every call and how it ended.

Each ``read``, ``search`` and ``follow_next`` is counted in ``cds_fhir_fallback_requests_total``
with outcome ``ok``, the ``FhirError`` code (``timeout``, ``server-error``, ``unauthorized``,
``search-error`` …) or ``deadline`` when the prefetch deadline cancelled it. Only the resource
type is a label.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from cds_service.fhir.client import FhirClient
from cds_service.fhir.errors import FhirError
from cds_service.fhir.searchset import Searchset, query_type
from cds_service.observability.metrics import Metrics

T = TypeVar("T")
DEADLINE = "deadline"


class InstrumentedFhirClient(FhirClient):
    """A ``FhirClient`` that records each call's outcome in ``metrics``."""

    def __init__(self, http: httpx.AsyncClient, metrics: Metrics, **limits: Any) -> None:
        super().__init__(http, **limits)
        self.metrics = metrics

    async def _observe(self, operation: str, resource_type: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await call()
        except FhirError as error:
            self.metrics.observe_fhir(operation, resource_type, error.code)
            raise
        except asyncio.CancelledError:
            self.metrics.observe_fhir(operation, resource_type, DEADLINE)
            raise
        except Exception:
            self.metrics.observe_fhir(operation, resource_type, "error")
            raise
        self.metrics.observe_fhir(operation, resource_type, "ok")
        return result

    async def read(self, base_url: str, path: str, token: str | None) -> dict[str, Any]:
        return await self._observe("read", query_type(path), lambda: FhirClient.read(self, base_url, path, token))

    async def search(
        self, base_url: str, path_with_query: str, token: str | None, into: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        return await self._observe(
            "search", query_type(path_with_query), lambda: FhirClient.search(self, base_url, path_with_query, token, into)
        )

    async def follow_next(self, base_url: str, found: Searchset, token: str | None) -> list[dict[str, Any]]:
        return await self._observe("next", "Bundle", lambda: FhirClient.follow_next(self, base_url, found, token))
