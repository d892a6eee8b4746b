"""Errors the service answers with, each as a FHIR OperationOutcome.

    ServiceError                 base: an HTTP status and OperationOutcome issues
    ├── InvalidRequest      400  a malformed body; each issue names the bad field (also a body
    │                            nested too deeply to process: RecursionError)
    ├── Unauthenticated     401  no detail, ever
    ├── Forbidden           403  the client may not name this fhirServer
    ├── UnknownService      404  no service with that id
    ├── PayloadTooLarge     413  body over the configured limit
    ├── UnsupportedMedia    415  body is not JSON
    ├── PreconditionFailed  412  the data that decides whether the service applies (the Patient,
                                 or the Conditions) could not be obtained: one issue per
                                 prefetch key, naming it and the reason code
    └── Overloaded          503  too many request bodies held at once (send it again)

Handlers turn these, and any unexpected exception, into OperationOutcome JSON: never a stack
trace, never request values (they may hold PHI or tokens), only field paths and messages.

``ErrorBoundary``, the app's outermost layer, answers any exception nothing else handled with the
500 itself and logs it by type and where it was raised (``file:line function`` per frame), never
its message: an exception's message may echo request content (fhir.resources puts a client's
``resourceType`` in its ``KeyError``). The exception goes no further, so the server never logs its
own traceback ("Exception in ASGI application") with that message.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.jsonresponse import JSONResponse

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome issue: what is wrong and where (a FHIRPath-like field path)."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class ServiceError(Exception):
    status: int = 500
    issues: Sequence[Issue] = field(default_factory=lambda: (Issue("internal error", code="exception"),))
    headers: dict[str, str] | None = None

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome resource with the given issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


class InvalidRequest(ServiceError):
    def __init__(self, issues: Sequence[Issue]):
        super().__init__(400, issues)

    @classmethod
    def one(cls, diagnostics: str, *path: str) -> InvalidRequest:
        return cls([Issue(diagnostics, expression=(".".join(path),) if path else ())])


class Unauthenticated(ServiceError):
    def __init__(self) -> None:
        super().__init__(401, (Issue("authentication failed", code="login"),), {"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__(403, (Issue(diagnostics, code="forbidden"),))


class UnknownService(ServiceError):
    def __init__(self, service_id: str):
        super().__init__(404, (Issue("no CDS service with this id", code="not-found"),))


class PayloadTooLarge(ServiceError):
    def __init__(self, limit: int):
        super().__init__(413, (Issue(f"request body exceeds {limit} bytes", code="too-costly"),))


class UnsupportedMedia(ServiceError):
    def __init__(self) -> None:
        super().__init__(415, (Issue("request body must be application/json", code="not-supported"),))


# What a caller can do about a prefetch key that could not be obtained, by reason code.
PREFETCH_HINTS = {
    "no-fhir-server": "send it in prefetch, or give fhirServer with fhirAuthorization so it can be fetched",
    "unauthorized": "the FHIR server refused fhirAuthorization",
    "not-found": "the FHIR server has no such record",
    "search-error": "the search reported an error (an OperationOutcome in its Bundle): send all its results",
    "entry-failed": "an entry of its Bundle failed: send all the search's results",
    "incomplete": "its Bundle holds fewer matches than its total and no next link: send every page",
    "wrong-type": "send the resources its prefetch template asks for (see the service's discovery)",
}


class PreconditionFailed(ServiceError):
    """``unavailable``: every prefetch key that could not be (wholly) read, with its reason code, for
    the access line and metrics (keys and codes only)."""

    def __init__(self, diagnostics: str, key: str | None = None, unavailable: Mapping[str, str] | None = None):
        super().__init__(412, (Issue(diagnostics, code="incomplete", expression=(f"prefetch.{key}",) if key else ()),))
        self.unavailable = dict(unavailable or {})

    @classmethod
    def keys(cls, reasons: Mapping[str, str], why: str, unavailable: Mapping[str, str] | None = None) -> PreconditionFailed:
        """One issue per prefetch key: ``prefetch '<key>' could not be obtained (<reason>): <why>[; what to do]``."""
        error = cls(why, unavailable=unavailable)
        error.issues = tuple(
            Issue(
                f"prefetch '{key}' could not be obtained ({reason}): {why}"
                + (f"; {PREFETCH_HINTS[reason]}" if reason in PREFETCH_HINTS else ""),
                code="incomplete",
                expression=(f"prefetch.{key}",),
            )
            for key, reason in reasons.items()
        )
        return error


class Overloaded(ServiceError):
    def __init__(self) -> None:
        super().__init__(503, (Issue("too many requests in progress; try again", code="transient"),), {"Retry-After": "1"})


def issues_from_validation(exc: ValidationError | RequestValidationError, prefix: str = "") -> list[Issue]:
    """OperationOutcome issues for pydantic errors: the field path and message, never the value."""
    issues = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        path = ".".join(([prefix] if prefix else []) + loc)
        message = err.get("msg", "invalid value")
        issues.append(Issue(f"{path or 'request'}: {message}", expression=(path,) if path else ()))
    return issues


def _respond(error: ServiceError) -> Response:
    return JSONResponse(
        operation_outcome(error.issues), status_code=error.status, headers=error.headers, media_type=FHIR_JSON
    )


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return _respond(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _respond(InvalidRequest(issues_from_validation(exc)))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
    text = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "request failed")
    return _respond(ServiceError(exc.status_code, (Issue(text, code=code),), dict(exc.headers or {})))


async def _too_deep(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RecursionError)
    return _respond(InvalidRequest.one("request nests too deeply"))


MAX_FRAMES = 30  # the innermost frames of an unhandled error's traceback that are logged


def where(exc: BaseException) -> list[str]:
    """Where ``exc`` was raised, as ``path:line function`` per frame (outermost first, the innermost
    ``MAX_FRAMES``), without reading source lines or the exception's message."""
    frames = [f"{_short(frame.f_code.co_filename)}:{line} {frame.f_code.co_name}" for frame, line in traceback.walk_tb(exc.__traceback__)]
    return frames[-MAX_FRAMES:]


def _short(path: str) -> str:
    """A source file's path from ``site-packages``, the package or the tests down."""
    path = path.replace("\\", "/")
    if "/site-packages/" in path:
        return path.rsplit("/site-packages/", 1)[1]
    for root in ("/cds_service/", "/tests/"):
        if root in path:
            return root[1:] + path.rsplit(root, 1)[1]
    return path


def log_unhandled(exc: BaseException) -> None:
    """An exception nothing handled: ERROR ``unhandled error`` with its type and frames (``where``), never its message."""
    log.error("unhandled error", extra={"error_type": type(exc).__name__, "frames": where(exc)})


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Reached only when ``ErrorBoundary`` itself fails: Starlette re-raises after this answer.
    log_unhandled(exc)
    return _respond(ServiceError())


class ErrorBoundary:
    """The outermost ASGI layer: an exception from the app is answered with the 500 OperationOutcome
    (when no answer has started) and logged by ``log_unhandled``; it is not raised further, so the
    server does not log it again with its message. Only HTTP requests: lifespan errors stay the
    server's to report."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except Exception as exc:
            log_unhandled(exc)
            if not started:  # else the answer is cut short: the server closes the connection
                await _respond(ServiceError())(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app can raise becomes an OperationOutcome response."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RecursionError, _too_deep)
    app.add_exception_handler(Exception, _unexpected)
