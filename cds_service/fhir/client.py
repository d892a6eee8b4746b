"""The async FHIR client used for prefetch fallback: read, search and Bundle paging.

One ``FhirClient`` wraps the app's pooled ``httpx.AsyncClient``. It only ever talks to the
``fhirServer`` it is given: the bearer token goes to that origin (scheme, host, port) and
nowhere else, redirects are never followed and a ``next`` link to another origin is refused.
Bodies are read as a stream and cut off at ``max_response_bytes``; every failure is one of
the typed errors in ``cds_service.fhir.errors``. Logs name the resource type and status only,
never a URL with its query string, an id or a token.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from cds_service.fhir.errors import (
    FhirError,
    FhirMalformedResponse,
    FhirRefused,
    FhirServerError,
    FhirTimeout,
    error_for_status,
)
from cds_service.settings import Settings

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def create_http_client(settings: Settings) -> httpx.AsyncClient:
    """The pooled HTTP client for FHIR calls, opened and closed by the app's lifespan."""
    deadline = settings.prefetch_deadline_seconds
    return httpx.AsyncClient(
        timeout=httpx.Timeout(deadline, connect=min(deadline, 2.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0),
        follow_redirects=False,
        headers={"Accept": FHIR_JSON},
    )


def entry_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries, without ``search.mode = outcome`` messages."""
    resources = []
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        resources.append(entry["resource"])
    return resources


def next_link(bundle: dict[str, Any]) -> str | None:
    """The URL of a Bundle's ``link[relation=next]``, if any."""
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def _origin(url: httpx.URL) -> Origin:
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
    return (url.scheme, url.host.lower(), port)


def _resource_type(path: str) -> str:
    return path.lstrip("/").split("?", 1)[0].split("/", 1)[0] or "resource"


class FhirClient:
    """Reads and searches one request's ``fhirServer``; raises ``FhirError`` subclasses."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_pages: int,
        max_response_bytes: int,
        allowed_hosts: Sequence[str] = (),
    ) -> None:
        self.http = http
        self.max_pages = max_pages
        self.max_response_bytes = max_response_bytes
        self.allowed_hosts = frozenset(host.lower() for host in allowed_hosts)

    @classmethod
    def from_settings(cls, http: httpx.AsyncClient, settings: Settings) -> FhirClient:
        """A client with the paging, size and host limits from ``settings``."""
        return cls(
            http,
            max_pages=settings.fhir_max_pages,
            max_response_bytes=settings.fhir_max_response_bytes,
            allowed_hosts=settings.fhir_allowed_hosts,
        )

    async def read(self, base_url: str, path: str, token: str | None) -> dict[str, Any]:
        """``GET [base]/Type/id``: the resource, checked to be of the type asked for."""
        wanted = _resource_type(path)
        base = self._base(base_url)
        body = await self._get(self._join(base, path), base, token, f"{wanted} read")
        if body.get("resourceType") != wanted:
            raise FhirMalformedResponse(f"{wanted} read: response is not a {wanted}")
        return body

    async def search(
        self, base_url: str, path_with_query: str, token: str | None, into: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """``GET [base]/Type?…``: the entry resources of every page, following ``next`` links.
        With ``into``, each page's resources are added to it as the page is read, so a caller
        keeps the pages read before a later one failed."""
        what = f"{_resource_type(path_with_query)} search"
        base = self._base(base_url)
        bundle = await self._get_bundle(self._join(base, path_with_query), base, token, what)
        resources = [] if into is None else into
        resources.extend(entry_resources(bundle))
        return await self._rest(base, bundle, token, what, pages=1, into=resources)

    async def follow_next(
        self, base_url: str, bundle: dict[str, Any], token: str | None, into: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """The entry resources of the pages after ``bundle`` (itself counted as page one); ``into``
        as for ``search``."""
        return await self._rest(self._base(base_url), bundle, token, "prefetch Bundle", pages=1, into=into)

    # ------------------------------------------------------------------------------ internals

    async def _rest(
        self, base: httpx.URL, bundle: dict[str, Any], token: str | None, what: str, pages: int,
        into: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = [] if into is None else into
        link = next_link(bundle)
        while link is not None:
            if pages >= self.max_pages:
                raise FhirRefused(f"{what}: more than {self.max_pages} pages")
            try:
                url = base.join(link)
            except httpx.InvalidURL:
                raise FhirRefused(f"{what}: bad next link") from None
            bundle = await self._get_bundle(url, base, token, what)
            pages += 1
            resources.extend(entry_resources(bundle))
            link = next_link(bundle)
        return resources

    def _base(self, base_url: str) -> httpx.URL:
        try:
            base = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            raise FhirRefused("fhirServer: bad URL") from None
        if base.scheme not in _DEFAULT_PORTS or not base.host or base.query or base.fragment:
            raise FhirRefused("fhirServer: bad URL")
        if self.allowed_hosts:
            host, port = base.host.lower(), _origin(base)[2]
            if host not in self.allowed_hosts and f"{host}:{port}" not in self.allowed_hosts:
                raise FhirRefused("fhirServer: host not allowed")
        return base.copy_with(path=base.path.rstrip("/") + "/")

    @staticmethod
    def _join(base: httpx.URL, path: str) -> httpx.URL:
        head = path.split("?", 1)[0]
        if ":" in head or head.startswith("//"):
            raise FhirRefused(f"{_resource_type(path)}: query must be relative to fhirServer")
        try:
            return base.join(path.lstrip("/"))
        except httpx.InvalidURL:
            raise FhirRefused(f"{_resource_type(path)}: bad URL") from None

    async def _get_bundle(self, url: httpx.URL, base: httpx.URL, token: str | None, what: str) -> dict[str, Any]:
        body = await self._get(url, base, token, what)
        if body.get("resourceType") != "Bundle":
            raise FhirMalformedResponse(f"{what}: response is not a Bundle")
        return body

    async def _get(self, url: httpx.URL, base: httpx.URL, token: str | None, what: str) -> dict[str, Any]:
        if _origin(url) != _origin(base):
            raise FhirRefused(f"{what}: link to another origin not followed")
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self.http.stream("GET", url, headers=headers, follow_redirects=False) as response:
                if not response.is_success:
                    raise error_for_status(response.status_code, what)
                raw = await self._read_limited(response, what)
        except FhirError as error:
            log.info("fhir %s failed: %s", what, error.reason)
            raise
        except httpx.TimeoutException:
            log.info("fhir %s timed out", what)
            raise FhirTimeout(f"{what}: timed out") from None
        except httpx.HTTPError as error:
            log.info("fhir %s failed: %s", what, type(error).__name__)
            raise FhirServerError(f"{what}: {type(error).__name__}") from None
        log.debug("fhir %s: HTTP %s, %d bytes", what, response.status_code, len(raw))
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FhirMalformedResponse(f"{what}: response is not JSON") from None
        if not isinstance(body, dict):
            raise FhirMalformedResponse(f"{what}: response is not a JSON object")
        return body

    async def _read_limited(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise FhirMalformedResponse(f"{what}: response larger than {self.max_response_bytes} bytes")
        chunks = bytearray()
        async for chunk in response.aiter_bytes():
            chunks.extend(chunk)
            if len(chunks) > self.max_response_bytes:
                raise FhirMalformedResponse(f"{what}: response larger than {self.max_response_bytes} bytes")
        return bytes(chunks)
