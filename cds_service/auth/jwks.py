"""Signing keys of one trusted issuer: JWKS from a file or an allow-listed URL, cached.

Keys are looked up by ``kid``. An unknown ``kid`` re-reads the JWKS (key rotation) at most once
per ``refresh_min_seconds`` per source, so a stream of bogus ``kid`` values cannot hammer the
issuer. Only the issuer's configured ``jwks_url`` and its ``jku_allowlist`` URLs are ever fetched;
redirects are not followed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .config import IssuerConfig
from .errors import AuthError

MAX_JWKS_BYTES = 256_000


class _CachedSet:
    """The keys last read from one source and when that source was last read."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.loaded_at: float | None = None
        self.lock = asyncio.Lock()


def parse_jwks(document: Any) -> dict[str, dict[str, Any]]:
    """The signature keys of a JWK Set document, by ``kid`` (keys without ``kid`` are unusable)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set: expected an object with a 'keys' list")
    keys: dict[str, dict[str, Any]] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or "kty" not in jwk:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        if any(field in jwk for field in ("d", "p", "q", "k")):
            raise ValueError(f"key {jwk['kid']!r} holds private or symmetric key material")
        keys[jwk["kid"]] = jwk
    return keys


def read_jwks_file(path: Path) -> dict[str, dict[str, Any]]:
    """Parse a JWKS file (used at start-up to fail fast on a bad file, and on each reload)."""
    return parse_jwks(json.loads(path.read_text(encoding="utf-8")))


class IssuerKeys:
    """Where one issuer's keys come from and the cache of what was read."""

    def __init__(
        self,
        issuer: IssuerConfig,
        http: Callable[[], httpx.AsyncClient],
        refresh_min_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._refresh_min = refresh_min_seconds
        self._clock = clock
        self._cache: dict[str, _CachedSet] = {}

    def _source(self, jku: object) -> str:
        if jku is not None:
            if not isinstance(jku, str) or jku not in self.issuer.jku_allowlist:
                raise AuthError("jku-not-allowed")
            local = self.issuer.jku_files.get(jku)
            return f"file:{local}" if local is not None else jku
        if self.issuer.jwks_file is not None:
            return f"file:{self.issuer.jwks_file}"
        if self.issuer.jwks_url is not None:
            return self.issuer.jwks_url
        raise AuthError("no-key-source")

    async def key_for(self, kid: object, jku: object = None) -> dict[str, Any]:
        """The JWK for ``kid`` from the token's allow-listed ``jku`` or the configured JWKS."""
        source = self._source(jku)
        if not isinstance(kid, str) or not kid:
            raise AuthError("missing-kid")
        cached = self._cache.setdefault(source, _CachedSet())
        async with cached.lock:
            if kid not in cached.keys and self._may_reload(cached):
                await self._reload(source, cached)
            jwk = cached.keys.get(kid)
        if jwk is None:
            raise AuthError("unknown-kid")
        return jwk

    def _may_reload(self, cached: _CachedSet) -> bool:
        if cached.loaded_at is None:
            return True
        return self._clock() - cached.loaded_at >= self._refresh_min

    async def _reload(self, source: str, cached: _CachedSet) -> None:
        cached.loaded_at = self._clock()  # failed reads are rate-limited too
        try:
            if source.startswith("file:"):
                cached.keys = read_jwks_file(Path(source.removeprefix("file:")))
            else:
                cached.keys = parse_jwks(await self._fetch(source))
        except (OSError, ValueError, httpx.HTTPError):
            raise AuthError("jwks-unavailable") from None

    async def _fetch(self, url: str) -> Any:
        response = await self._http().get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        return response.json()
