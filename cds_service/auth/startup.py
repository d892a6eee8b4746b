"""Building the :class:`Authenticator` once at start-up from :class:`Settings`.

Configuration problems (no issuers in ``required`` mode, an invalid issuers file, an unreadable or
malformed JWKS file) raise :class:`AuthConfigError` here, so the service refuses to start rather
than failing on the first request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from ..settings import Settings
from .config import IssuerConfig, trusted_issuers
from .errors import AuthConfigError
from .jwks import read_jwks_file
from .replay import ReplayStore, build_replay_store
from .verify import Authenticator

logger = logging.getLogger("cds_service.auth")

OFF_WARNING = (
    "CLIENT AUTHENTICATION IS OFF (CDS_AUTH_MODE=off): any caller can use this service. "
    "Set CDS_AUTH_MODE=required with CDS_AUTH_ISSUERS_FILE for anything but local development."
)
SANDBOX_WARNING = (
    "CLIENT AUTHENTICATION IS EFFECTIVELY OFF (CDS_AUTH_MODE=sandbox): the CDS Hooks Sandbox's signing key "
    "is public, so anyone can mint a token it accepts. For local development with the Sandbox only; admin "
    "routes are refused. Set CDS_AUTH_MODE=required with CDS_AUTH_ISSUERS_FILE for anything else."
)


def _check_key_files(issuers: list[IssuerConfig]) -> None:
    for issuer in issuers:
        paths = {issuer.jwks_file, *issuer.jku_files.values()} - {None}
        for path in sorted(paths, key=str):
            try:
                read_jwks_file(path)  # type: ignore[arg-type]
            except (OSError, ValueError) as exc:
                raise AuthConfigError(f"{path}: unusable JWKS for issuer {issuer.iss!r}: {exc}") from None


def build_authenticator(
    settings: Settings,
    *,
    replay_store: ReplayStore | None = None,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Authenticator:
    """The authenticator for ``settings.auth_mode``; raises AuthConfigError on bad configuration."""
    if settings.auth_mode == "off":
        logger.warning(OFF_WARNING)
        return Authenticator("off", [], None, public_base_url=settings.public_base_url)
    if settings.auth_mode == "sandbox":
        logger.warning(SANDBOX_WARNING)
    issuers = trusted_issuers(settings.auth_mode, settings.auth_issuers_file)
    if settings.production:
        unbounded = [issuer.iss for issuer in issuers if not issuer.fhir_servers]
        if unbounded:
            raise AuthConfigError(f"CDS_ENV=production: issuers without fhir_servers: {', '.join(unbounded)}")
    _check_key_files(issuers)
    store = replay_store if replay_store is not None else build_replay_store(settings.redis_url)
    logger.info(
        "client authentication %s; trusted issuers: %s; replay store: %s",
        settings.auth_mode,
        ", ".join(issuer.iss for issuer in issuers),
        type(store).__name__,
    )
    return Authenticator(
        settings.auth_mode,
        issuers,
        store,
        public_base_url=settings.public_base_url,
        clock_skew_seconds=settings.auth_clock_skew_seconds,
        max_token_age_seconds=settings.auth_max_token_age_seconds,
        jwks_refresh_min_seconds=settings.auth_jwks_refresh_min_seconds,
        http_client=http_client,
        clock=clock,
    )
