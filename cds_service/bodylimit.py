"""``BodyLimit``: request bodies bounded per request and across requests, and a 413 clients can read.

A pure ASGI middleware around the app's ``receive`` and ``send``:

* **Per request**: a body over ``CDS_MAX_BODY_BYTES`` (declared by ``Content-Length`` or streamed,
  chunked bodies included) is answered 413, whichever route reads it.
* **Across requests**: the body bytes the app has received and not yet finished with are counted
  against ``CDS_MAX_BUFFERED_BODY_BYTES`` (released when the response is done). A request whose
  next chunk would pass that bound is answered 503 with ``Retry-After``, so many slow large bodies
  at once cannot take the process's memory.
* **Answering before the body is read** (413, 503, a 401 before the body): a client that sends its
  whole body before reading (urllib, ``Connection: close``) would see a connection reset if the
  server closed with the body unread. The rest of the body is read and discarded, up to
  ``drain_bytes`` and ``drain_seconds``, then the answer is sent with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.errors import FHIR_JSON, Overloaded, PayloadTooLarge, ServiceError, operation_outcome
from cds_service.jsonresponse import JSONResponse

DRAIN_SECONDS = 5.0


class BodyBudget:
    """Body bytes held by all requests of this process at once, bounded by ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


def _declared_length(scope: Scope) -> int | None:
    """``Content-Length``; 0 when the request has no body (neither it nor ``Transfer-Encoding``)."""
    chunked = False
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value) if value.isdigit() else None
        chunked = chunked or name == b"transfer-encoding"
    return None if chunked else 0


class _Request:
    """One request's body accounting."""

    __slots__ = ("declared", "received", "held", "complete", "error")

    def __init__(self, declared: int | None) -> None:
        self.declared = declared
        self.received = 0
        self.held = 0
        self.complete = declared == 0
        self.error: ServiceError | None = None


class BodyLimit:
    """Bounds request bodies per request (413) and across requests (503); see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_buffered_bytes: int,
        drain_bytes: int | None = None,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.budget = BodyBudget(max_buffered_bytes)
        self.drain_bytes = drain_bytes if drain_bytes is not None else 2 * max_body_bytes
        self.drain_seconds = drain_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _Request(_declared_length(scope))
        if state.declared is not None and state.declared > self.max_body_bytes:
            await self._answer(PayloadTooLarge(self.max_body_bytes), state, receive, send)
            return

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self._count(state, len(message.get("body", b"")), bool(message.get("more_body")))
            else:
                state.complete = True
            return message

        answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if state.error is not None:  # the app's own answer to the error raised in receive is replaced
                if not answered:
                    answered = True
                    await self._answer(state.error, state, receive, send)
                return
            if message["type"] == "http.response.start" and not state.complete:
                await self._drain(state, receive)
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        finally:
            self.budget.give(state.held)
        if state.error is not None and not answered:
            await self._answer(state.error, state, receive, send)

    def _count(self, state: _Request, size: int, more: bool) -> None:
        state.received += size
        state.complete = not more
        if state.received > self.max_body_bytes:
            state.error = PayloadTooLarge(self.max_body_bytes)
            raise state.error
        if not self.budget.take(size):
            state.error = Overloaded()
            raise state.error
        state.held += size

    async def _drain(self, state: _Request, receive: Receive) -> None:
        """Read and discard the rest of the body, within ``drain_bytes`` and ``drain_seconds``."""
        if state.declared is not None and state.declared > self.drain_bytes:
            return  # it cannot be read within the bound: close at once
        deadline = time.monotonic() + self.drain_seconds
        drained = 0
        with contextlib.suppress(asyncio.TimeoutError, OSError):
            while not state.complete and drained <= self.drain_bytes:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
                if message["type"] != "http.request":
                    break
                drained += len(message.get("body", b""))
                state.complete = not message.get("more_body")

    async def _answer(self, error: ServiceError, state: _Request, receive: Receive, send: Send) -> None:
        if not state.complete:
            await self._drain(state, receive)
        headers: dict[str, Any] = {**(error.headers or {}), "Connection": "close"}
        response = JSONResponse(operation_outcome(error.issues), status_code=error.status, headers=headers, media_type=FHIR_JSON)
        await response({"type": "http"}, receive, send)
