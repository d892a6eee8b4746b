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

from .errors import AuthError
from .verify import Authenticator, ClientIdentity

logger = logging.getLogger("cds_service.auth")

UNAUTHORIZED_BODY = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication failed"}],
}


def expected_audience(request: Request, public_base_url: str | None) -> str:
    """The URL the client called: ``public_base_url`` + the path under the app root, else the request URL."""
    if public_base_url:
        path = request.url.path
        root = request.scope.get("app_root_path", request.scope.get("root_path", "")) or ""
        if root and path.startswith(root):
            path = path[len(root) :]
        return public_base_url.rstrip("/") + path
    return str(request.url.replace(query="", fragment=""))


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


ClientAuth = Annotated[ClientIdentity | None, Depends(require_client)]


async def auth_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler for AuthError: 401, no detail beyond "authentication failed"."""
    return JSONResponse(UNAUTHORIZED_BODY, status_code=401, headers={"WWW-Authenticate": "Bearer"})
