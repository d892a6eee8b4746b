"""Verifying the CDS client's JWT (``Authorization: Bearer <jwt>``) as the CDS Hooks spec asks.

Order of checks: header syntax, ``alg`` (asymmetric only), ``typ``, trusted ``iss``, the key
(``kid``, allow-listed ``jku``), the signature, then the claims ``aud`` (the exact URL called),
``exp``, ``iat``, ``nbf``, ``jti``, ``tenant``, and last the replay check, so only genuine tokens
ever reach the replay store. Every failure raises :class:`AuthError` with a category.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import jwt
from jwt.exceptions import InvalidAlgorithmError, InvalidKeyError, InvalidSignatureError, PyJWKError, PyJWTError

from .config import IssuerConfig, normal_base_url
from .errors import AuthError, ReplayStoreError
from .jwks import IssuerKeys
from .replay import ReplayStore, replay_key

logger = logging.getLogger("cds_service.auth")

ALLOWED_ALGORITHMS = frozenset({"ES384", "RS384", "ES256", "RS256", "ES512", "RS512"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
_SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "enforce_minimum_key_length": True,
}

AuthMode = Literal["required", "off", "sandbox"]


@dataclass(frozen=True)
class ClientIdentity:
    """Who called: the verified issuer, and the token's ``sub`` and ``tenant`` if any."""

    issuer: str
    subject: str | None
    tenant: str | None
    key_id: str
    fhir_servers: tuple[str, ...] = ()  # normalised base URLs this client may name; empty = any

    def may_use(self, fhir_server: str) -> bool:
        """Whether this client may name ``fhir_server`` (its issuer's ``fhir_servers``, if listed)."""
        return not self.fhir_servers or normal_base_url(fhir_server) in self.fhir_servers


def same_url(a: str, b: str) -> bool:
    """URLs equal up to a trailing slash."""
    return a.rstrip("/") == b.rstrip("/")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError("bad-claim")
    return float(value)


class Authenticator:
    """Checks client JWTs against the trusted issuers; built once at start-up."""

    def __init__(
        self,
        mode: AuthMode,
        issuers: Sequence[IssuerConfig],
        replay_store: ReplayStore | None,
        *,
        public_base_url: str | None = None,
        clock_skew_seconds: float = 60,
        max_token_age_seconds: float = 300,
        jwks_refresh_min_seconds: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode != "off" and (not issuers or replay_store is None):
            raise ValueError(f"auth mode {mode!r} needs trusted issuers and a replay store")
        self.mode = mode
        self.public_base_url = public_base_url
        self.replay_store = replay_store
        self._skew = clock_skew_seconds
        self._max_age = max_token_age_seconds
        self._clock = clock
        self._http = http_client
        self._owns_http = http_client is None
        self._issuers = {
            issuer.iss: IssuerKeys(issuer, self._http_client, jwks_refresh_min_seconds, clock) for issuer in issuers
        }

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def issuers(self) -> list[str]:
        return list(self._issuers)

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        """Release the JWKS HTTP client (if this object made it) and the replay store."""
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None
        if self.replay_store is not None:
            await self.replay_store.aclose()

    async def authenticate(self, authorization: str | None, audience: str | Sequence[str]) -> ClientIdentity | None:
        """The caller's identity, or None when auth is off; raises AuthError on any failure.
        ``audience``: the URL called, or the equivalent URLs of it, one of which ``aud`` must name."""
        if not self.enabled:
            return None
        token = _bearer_token(authorization)
        header, unverified = _unverified(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthError("bad-alg")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError("bad-typ")
        iss = unverified.get("iss")
        keys = self._issuers.get(iss) if isinstance(iss, str) else None
        if keys is None:
            raise AuthError("untrusted-issuer")
        jwk = await keys.key_for(header.get("kid"), header.get("jku"))
        claims = _verified_claims(token, jwk, alg)
        ttl = self._check_claims(claims, keys.issuer, audience)
        if await self._replayed(keys.issuer.iss, claims["jti"], ttl):
            raise AuthError("replay")
        tenant = claims.get("tenant") or keys.issuer.tenant
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        return ClientIdentity(
            issuer=keys.issuer.iss, subject=subject, tenant=tenant, key_id=header["kid"],
            fhir_servers=keys.issuer.fhir_servers,
        )  # fmt: skip

    def _check_claims(self, claims: Mapping[str, Any], issuer: IssuerConfig, audience: str | Sequence[str]) -> int:
        """Check the registered claims; returns how long the ``jti`` must be remembered."""
        if any(name not in claims for name in REQUIRED_CLAIMS):
            raise AuthError("missing-claim")
        if claims["iss"] != issuer.iss:
            raise AuthError("untrusted-issuer")
        aud = claims["aud"]
        audiences = [aud] if isinstance(aud, str) else aud
        called = (audience,) if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not any(
            isinstance(a, str) and same_url(a, url) for a in audiences for url in called
        ):
            raise AuthError("bad-audience")
        now, skew = self._clock(), self._skew
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if exp <= now - skew:
            raise AuthError("expired")
        if iat > now + skew:
            raise AuthError("iat-in-future")
        if iat < now - self._max_age - skew:
            raise AuthError("too-old")
        if "nbf" in claims and _number(claims, "nbf") > now + skew:
            raise AuthError("not-yet-valid")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("missing-claim" if jti in ("", None) else "bad-claim")
        tenant = claims.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthError("bad-claim")
        if tenant is not None and issuer.tenant is not None and tenant != issuer.tenant:
            raise AuthError("bad-tenant")
        # Remember the jti while the token could still pass the time checks above, no longer.
        last_acceptable = min(exp + skew, iat + self._max_age + skew)
        return max(1, math.ceil(last_acceptable - now) + 1)

    async def _replayed(self, iss: str, jti: str, ttl: int) -> bool:
        assert self.replay_store is not None
        try:
            return await self.replay_store.seen(replay_key(iss, jti), ttl)
        except ReplayStoreError:
            raise AuthError("replay-store-unavailable") from None


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing-token")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthError("malformed-header")
    return token


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims read without verification, only to pick the issuer and key."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except PyJWTError:
        raise AuthError("malformed-token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed-token")
    return header, claims


def _verified_claims(token: str, jwk: Mapping[str, Any], alg: str) -> dict[str, Any]:
    """The claims, once the signature checks out with ``jwk`` under exactly ``alg``."""
    if jwk.get("alg") not in (None, alg):
        raise AuthError("bad-alg")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
    except (PyJWKError, InvalidKeyError):
        raise AuthError("bad-key") from None
    try:
        return jwt.decode(token, key=key, algorithms=[alg], options=_SIGNATURE_ONLY)  # type: ignore[arg-type]
    except InvalidSignatureError:
        raise AuthError("bad-signature") from None
    except InvalidAlgorithmError:
        raise AuthError("bad-alg") from None
    except InvalidKeyError:
        raise AuthError("bad-key") from None
    except PyJWTError:
        raise AuthError("malformed-token") from None
