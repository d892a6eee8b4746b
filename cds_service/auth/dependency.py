"""The FastAPI side of client authentication: the dependency and the 401 handler.

``require_client`` reads the :class:`Authenticator` from ``request.app.state.authenticator``,
works out the audience the token must name (the exact URL called) and returns the verified
:class:`ClientIdentity` (None when auth is off). ``auth_error_handler`` turns :class:`AuthError`
into a bare 401: a generic OperationOutcome and ``WWW-Authenticate: Bearer``. Only the failure
category is logged, never the token.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from ..origin import own_base_urls, request_path
from .errors import AuthError
from .verify import Authenticator, ClientIdentity

logger = logging.getLogger("cds_service.auth")

UNAUTHORIZED_BODY = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication failed"}],
}


def expected_audience(request: Request, public_base_url: str | None) -> tuple[str, ...]:
    """The URLs the client may have called: ``public_base_url`` + the path under the app root, else
    the connection's own address (``cds_service.origin``) — never the Host header."""
    path = request_path(request.scope)
    return tuple(base + path for base in own_base_urls(request.scope, public_base_url))


def get_authenticator(request: Request) -> Authenticator:
    """The authenticator built at start-up; a missing one is a wiring bug, so fail closed (500)."""
    authenticator = getattr(request.app.state, "authenticator", None)
    if not isinstance(authenticator, Authenticator):
        raise RuntimeError("app.state.authenticator is not set: call build_authenticator(settings) in create_app")
    return authenticator


async def require_client(request: Request) -> ClientIdentity | None:
    """FastAPI dependency: the verified caller, None when auth is off; raises AuthError otherwise."""
    authenticator = get_authenticator(request)
    if not authenticator.enabled:
        return None
    audience = expected_audience(request, authenticator.public_base_url)
    try:
        return await authenticator.authenticate(request.headers.get("authorization"), audience)
    except AuthError as exc:
        logger.warning("client authentication failed: %s", exc.reason, extra={"auth_failure": exc.reason})
        raise


async def require_admin(request: Request) -> ClientIdentity | None:
    """FastAPI dependency for admin routes: ``require_client``, and never a Sandbox-signed token
    (its key is public), so in ``sandbox`` mode admin routes always answer 401."""
    identity = await require_client(request)
    if get_authenticator(request).mode == "sandbox":
        logger.warning("client authentication failed: %s", "sandbox-not-admin", extra={"auth_failure": "sandbox-not-admin"})
        raise AuthError("sandbox-not-admin")
    return identity


ClientAuth = Annotated[ClientIdentity | None, Depends(require_client)]


async def auth_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler for AuthError: 401, no detail beyond "authentication failed"."""
    return JSONResponse(UNAUTHORIZED_BODY, status_code=401, headers={"WWW-Authenticate": "Bearer"})
