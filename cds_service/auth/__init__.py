"""CDS client authentication: the JWT a CDS client sends as ``Authorization: Bearer <jwt>``.

Modes (``CDS_AUTH_MODE``):

* ``required`` - trust only the issuers in ``CDS_AUTH_ISSUERS_FILE`` (start-up error if none).
* ``sandbox`` - trust the CDS Hooks Sandbox alone (bundled public key, its ``jku`` answered from the
  bundled file, never fetched). Its private key is public too, so this is development only: a
  WARNING at start-up, refused with an issuers file, with ``CDS_ENV=production`` and on admin routes.
* ``off`` - no checks at all; a WARNING is logged at start-up.

Related settings: ``CDS_PUBLIC_BASE_URL`` (the ``aud`` a token must carry is this + the request
path; without it, the scheme, address and port the connection arrived on — never the Host header), ``CDS_AUTH_CLOCK_SKEW_SECONDS`` (60), ``CDS_AUTH_MAX_TOKEN_AGE_SECONDS``
(300), ``CDS_AUTH_JWKS_REFRESH_MIN_SECONDS`` (60) and ``CDS_REDIS_URL`` (shared ``jti`` replay store
for several replicas; in-memory otherwise).

Wiring into the app (``create_app(settings)``)::

    from contextlib import asynccontextmanager
    from fastapi import Depends, FastAPI
    from cds_service.auth import AuthError, auth_error_handler, build_authenticator, require_client

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await app.state.authenticator.aclose()     # closes the JWKS HTTP client and Redis

    app = FastAPI(lifespan=lifespan)
    # 1. Build once, in create_app (not per request): raises AuthConfigError on bad config,
    #    so a misconfigured service does not start.
    app.state.authenticator = build_authenticator(settings)
    # 2. AuthError -> 401, generic OperationOutcome "authentication failed", WWW-Authenticate: Bearer.
    app.add_exception_handler(AuthError, auth_error_handler)
    # 3. Protect exactly the three CDS Hooks endpoints (not health checks or static files):
    #      GET  /cds-services                  (discovery)
    #      POST /cds-services/{id}             (service call)
    #      POST /cds-services/{id}/feedback    (feedback)
    #    either per route:  @router.post("/cds-services/{service_id}", dependencies=[Depends(require_client)])
    #    or per router:     APIRouter(dependencies=[Depends(require_client)])
    #    or, to use the caller, as a parameter:  async def call(..., client: ClientAuth): ...
    #    (ClientAuth is ``ClientIdentity | None``: None when auth is off.)

CORS preflights (``OPTIONS``) are answered by ``CORSMiddleware`` before any route, so they need no
token; its ``allow_headers`` must include ``Authorization`` and ``Content-Type``. Note that FastAPI
parses a JSON body before running dependencies, so an unauthenticated request with malformed JSON
gets FastAPI's 400/422 rather than 401; the body is never processed either way.
"""

from .config import IssuerConfig, load_issuers_file, sandbox_profile, trusted_issuers
from .dependency import ClientAuth, auth_error_handler, expected_audience, require_admin, require_client
from .errors import AuthConfigError, AuthError, ReplayStoreError
from .replay import MemoryReplayStore, RedisReplayStore, ReplayStore, build_replay_store
from .startup import build_authenticator
from .verify import ALLOWED_ALGORITHMS, Authenticator, ClientIdentity

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AuthConfigError",
    "AuthError",
    "Authenticator",
    "ClientAuth",
    "ClientIdentity",
    "IssuerConfig",
    "MemoryReplayStore",
    "RedisReplayStore",
    "ReplayStore",
    "ReplayStoreError",
    "auth_error_handler",
    "build_authenticator",
    "build_replay_store",
    "expected_audience",
    "load_issuers_file",
    "require_admin",
    "require_client",
    "sandbox_profile",
    "trusted_issuers",
]
