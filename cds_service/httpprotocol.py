"""uvicorn's httptools protocol with bounded request heads: size before parsing, and time.

The parser keeps a header value it is still receiving in memory, growing it with every packet, so
a 100 MB ``Authorization`` header once cost the process 870 MB and 25 s. Here, while a request's
line and headers are arriving, bytes are handed to the parser only up to ``CDS_MAX_HEADER_BYTES``;
past that the connection is answered 431 and closed. A connection that has not sent a complete
request head within ``CDS_HEADER_TIMEOUT_SECONDS`` of opening (or of its previous response) is
answered 408 and closed, so slow-header connections cannot pile up. Bodies are not affected
(``cds_service.bodylimit`` bounds them).

Those answers, and uvicorn's 400 for a request it cannot parse (broken framing: invalid chunked
encoding, a non-numeric ``Content-Length`` …), carry a FHIR OperationOutcome like every other error
of the service, not uvicorn's ``text/plain`` "Invalid HTTP request received.".
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cds_service.errors import FHIR_JSON, Issue, operation_outcome
from cds_service.settings import get_settings


def _status(code: int, reason: str, issue: Issue) -> bytes:
    """A whole response that closes the connection, its body an OperationOutcome of ``issue``."""
    body = orjson.dumps(operation_outcome((issue,)))
    head = f"HTTP/1.1 {code} {reason}\r\ncontent-type: {FHIR_JSON}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode("ascii") + body


TOO_LARGE = _status(431, "Request Header Fields Too Large", Issue("request line and headers too large", code="too-costly"))
TIMED_OUT = _status(408, "Request Timeout", Issue("request line and headers not received in time", code="timeout"))
MALFORMED = _status(400, "Bad Request", Issue("invalid HTTP request", code="structure"))


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose request heads are bounded in size and time (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_head_bytes = settings.max_header_bytes
        self.head_timeout = settings.header_timeout_seconds
        self.head_room = self.max_head_bytes  # bytes the parser may still get for the current head
        self.in_head = True
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while self.in_head and data:
            if self.head_room <= 0:
                self._refuse(TOO_LARGE)
                return
            part, data = data[: self.head_room], data[self.head_room :]
            self.head_room -= len(part)
            super().data_received(part)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_timer is None:  # a keep-alive or pipelined request: its head gets a timer too
            self._start_head()

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head, self.head_room = True, self.max_head_bytes  # the next head starts with the next byte

    def _start_head(self) -> None:
        self.in_head, self.head_room = True, self.max_head_bytes
        self._stop_head_timer()
        self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.in_head:
            self._refuse(TIMED_OUT)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, as an OperationOutcome (``msg`` is uvicorn's text)."""
        self._refuse(MALFORMED)

    def _refuse(self, response: bytes) -> None:
        self._stop_head_timer()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
