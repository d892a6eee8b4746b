"""The async FHIR client used for prefetch fallback: read, search and Bundle paging.

One ``FhirClient`` wraps the app's pooled ``httpx.AsyncClient``. It only ever talks to the
``fhirServer`` it is given, and only with the request's bearer token (no token, no query): the
token goes to that origin (scheme, host, port) and nowhere else, redirects are never followed and
a ``next`` link to another origin is refused. Plain ``http://`` is refused except to a host listed
in ``CDS_FHIR_ALLOWED_HOSTS`` (outside production), and an unlisted host must resolve to public
addresses only (``fhir.addresses``). Bodies are read as a stream and cut off at
``max_response_bytes`` of *decoded* bytes, decompressing gzip/deflate as it streams, so a
compressed bomb never grows past the cap; every failure is one of the typed errors in
``cds_service.fhir.errors``. Logs name the resource type and status only,
never a URL with its query string, an id or a token.

The pool is shared by every request, and no one ``fhirServer`` may take all of it: at most
``PER_SERVER`` requests are in flight to one origin (the rest of that origin's wait, inside their own
deadline), so a server that never answers slows only the calls that name it.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Collection, Sequence
from typing import Any

import httpcore
import httpx
import orjson

from cds_service.fhir.addresses import AddressRefused, GuardedBackend, host_listed
from cds_service.fhir.errors import (
    FhirError,
    FhirMalformedResponse,
    FhirRefused,
    FhirServerError,
    FhirTimeout,
    FhirWrongType,
    error_for_status,
)
from cds_service.fhir.searchset import Searchset, query_type
from cds_service.settings import Settings

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
ACCEPT_ENCODING = "gzip, deflate"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

Origin = tuple[str, str, int]
POOL_SIZE = 200  # connections, every fhirServer together
PER_SERVER = 50  # requests in flight to one origin
_GATES: dict[Origin, asyncio.Semaphore] = {}  # per origin; idle ones are dropped past GATES_KEPT
GATES_KEPT = 1024


def _gate(origin: Origin) -> asyncio.Semaphore:
    """The semaphore bounding the requests in flight to ``origin``."""
    gate = _GATES.get(origin)
    if gate is None:
        if len(_GATES) >= GATES_KEPT:  # drop the idle ones (an idle gate holds nothing)
            for key in [k for k, g in _GATES.items() if not g.locked() and g._value == PER_SERVER]:
                del _GATES[key]
        gate = _GATES[origin] = asyncio.Semaphore(PER_SERVER)
    return gate


def create_http_client(settings: Settings) -> httpx.AsyncClient:
    """The pooled HTTP client for FHIR calls, opened and closed by the app's lifespan."""
    deadline = settings.prefetch_deadline_seconds
    limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=20, keepalive_expiry=30.0)
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool: httpcore.AsyncConnectionPool = transport._pool
    # Every connection goes through the address guard (no public API sets the pool's backend).
    pool._network_backend = GuardedBackend(pool._network_backend, settings.fhir_allowed_hosts)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(deadline, connect=min(deadline, 2.0)),
        follow_redirects=False,
        headers={"Accept": FHIR_JSON, "Accept-Encoding": ACCEPT_ENCODING},
    )


async def settle(tasks: Collection[asyncio.Task[Any]], seconds: float) -> None:
    """Let ``tasks`` (FHIR reads) run for up to ``seconds``, then cancel those still running and wait
    for them to end. With no time left (``seconds`` ≤ 0) none starts: each is cancelled before its
    first step, so no request goes out. Afterwards every task is done: its result, its error, or
    cancelled (out of time)."""
    try:
        if seconds > 0:
            await asyncio.wait(tasks, timeout=seconds)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _origin(url: httpx.URL) -> Origin:
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
    return (url.scheme, url.host.lower(), port)


class FhirClient:
    """Reads and searches one request's ``fhirServer``; raises ``FhirError`` subclasses."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_pages: int,
        max_response_bytes: int,
        allowed_hosts: Sequence[str] = (),
        allow_http: bool = True,
    ) -> None:
        self.http = http
        self.max_pages = max_pages
        self.max_response_bytes = max_response_bytes
        self.allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self.allow_http = allow_http  # plain http to listed hosts; off in production

    @classmethod
    def from_settings(cls, http: httpx.AsyncClient, settings: Settings) -> FhirClient:
        """A client with the paging, size and host limits from ``settings``."""
        return cls(
            http,
            max_pages=settings.fhir_max_pages,
            max_response_bytes=settings.fhir_max_response_bytes,
            allowed_hosts=settings.fhir_allowed_hosts,
            allow_http=not settings.production,
        )

    async def read(self, base_url: str, path: str, token: str | None) -> dict[str, Any]:
        """``GET [base]/Type/id``: the resource, checked to be of the type asked for."""
        wanted = query_type(path)
        base = self._base(base_url)
        body = await self._get(self._join(base, path), base, token, f"{wanted} read")
        if body.get("resourceType") != wanted:
            raise FhirWrongType(f"{wanted} read: response is not a {wanted}")
        return body

    async def search(
        self, base_url: str, path_with_query: str, token: str | None, into: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """``GET [base]/Type?…``: the resources of every page, following ``next`` links, checked to be
        all the results (``fhir.searchset``). With ``into``, each page's resources are added to it as
        the page is read, so a caller keeps the pages read before a later one failed."""
        what = f"{query_type(path_with_query)} search"
        base = self._base(base_url)
        found = Searchset(path_with_query, into)
        found.add(await self._get_bundle(self._join(base, path_with_query), base, token, what))
        return await self._rest(base, found, token, what)

    async def follow_next(self, base_url: str, found: Searchset, token: str | None) -> list[dict[str, Any]]:
        """The pages after the last one ``found`` holds (a prefetch Bundle the client sent, page one),
        read into it: the resources of every page, checked as ``search`` checks them."""
        return await self._rest(self._base(base_url), found, token, "prefetch Bundle")

    # ------------------------------------------------------------------------------ internals

    async def _rest(self, base: httpx.URL, found: Searchset, token: str | None, what: str) -> list[dict[str, Any]]:
        while (link := found.next) is not None:
            if found.pages >= self.max_pages:
                raise FhirRefused(f"{what}: more than {self.max_pages} pages")
            try:
                url = base.join(link)
            except httpx.InvalidURL:
                raise FhirRefused(f"{what}: bad next link") from None
            found.add(await self._get_bundle(url, base, token, what))
        return found.finish()

    def _base(self, base_url: str) -> httpx.URL:
        try:
            base = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            raise FhirRefused("fhirServer: bad URL") from None
        if base.scheme not in _DEFAULT_PORTS or not base.host or base.query or base.fragment:
            raise FhirRefused("fhirServer: bad URL")
        listed = host_listed(base.host, _origin(base)[2], self.allowed_hosts)
        if self.allowed_hosts and not listed:
            raise FhirRefused("fhirServer: host not allowed")
        if base.scheme == "http" and not (listed and self.allow_http):
            raise FhirRefused("fhirServer: plain http only to a listed development host")
        return base.copy_with(path=base.path.rstrip("/") + "/")

    @staticmethod
    def _join(base: httpx.URL, path: str) -> httpx.URL:
        head = path.split("?", 1)[0]
        if ":" in head or head.startswith("//"):
            raise FhirRefused(f"{query_type(path)}: query must be relative to fhirServer")
        try:
            return base.join(path.lstrip("/"))
        except httpx.InvalidURL:
            raise FhirRefused(f"{query_type(path)}: bad URL") from None

    async def _get_bundle(self, url: httpx.URL, base: httpx.URL, token: str | None, what: str) -> dict[str, Any]:
        body = await self._get(url, base, token, what)
        if body.get("resourceType") != "Bundle":  # a resource of another type: as when a client sends one
            raise FhirWrongType(f"{what}: response is not a Bundle")
        return body

    async def _get(self, url: httpx.URL, base: httpx.URL, token: str | None, what: str) -> dict[str, Any]:
        if _origin(url) != _origin(base):
            raise FhirRefused(f"{what}: link to another origin not followed")
        if url.userinfo:  # credentials in a link would replace the client's token (and its audience)
            raise FhirRefused(f"{what}: link with credentials not followed")
        if not token:  # CDS Hooks: query only with the fhirAuthorization the client gave
            raise FhirRefused(f"{what}: no fhirAuthorization")
        headers = {"Accept": FHIR_JSON, "Accept-Encoding": ACCEPT_ENCODING, "Authorization": f"Bearer {token}"}
        try:
            async with _gate(_origin(url)), self.http.stream("GET", url, headers=headers, follow_redirects=False) as response:
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
            if isinstance(error.__cause__, AddressRefused):
                log.info("fhir %s refused: address not allowed", what)
                raise FhirRefused(f"{what}: fhirServer address not allowed") from None
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
        """The decoded body, never more than ``max_response_bytes`` of it in memory: compressed
        bodies are inflated as they stream, at most up to the cap (a gzip bomb stops there)."""
        limit = self.max_response_bytes
        too_large = FhirMalformedResponse(f"{what}: response larger than {limit} bytes")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in _WBITS and encoding not in ("", "identity"):
            raise FhirMalformedResponse(f"{what}: unsupported Content-Encoding")
        inflate = _Inflater(encoding) if encoding in _WBITS else None
        chunks = bytearray()
        async for raw in response.aiter_raw():
            chunk = raw if inflate is None else inflate(raw, limit - len(chunks) + 1, what)
            chunks.extend(chunk)
            if len(chunks) > limit:
                raise too_large
        if inflate is not None:
            chunks.extend(inflate.finish(what))
        return bytes(chunks)


class _Inflater:
    """Streaming gzip/deflate decoding that returns at most ``max_length`` bytes per call."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.decoder = zlib.decompressobj(_WBITS[encoding])
        self.started = False

    def __call__(self, raw: bytes, max_length: int, what: str) -> bytes:
        try:
            out = self.decoder.decompress(raw, max_length)
        except zlib.error:
            if self.encoding != "deflate" or self.started:
                raise FhirMalformedResponse(f"{what}: response is not valid {self.encoding}") from None
            self.decoder, self.started = zlib.decompressobj(-zlib.MAX_WBITS), True  # raw deflate, as some servers send
            return self(raw, max_length, what)
        self.started = True
        return out  # when cut at max_length the caller stops: the rest is over the cap

    def finish(self, what: str) -> bytes:
        try:
            return self.decoder.flush()
        except zlib.error:
            raise FhirMalformedResponse(f"{what}: response is not valid {self.encoding}") from None
