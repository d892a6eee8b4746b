"""JWKS sources: URL fetching (respx), rate-limited refresh on unknown `kid`, allow-listed `jku`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from cds_service.auth import Authenticator, AuthError, IssuerConfig, MemoryReplayStore
from cds_service.auth.jwks import parse_jwks
from cds_service.auth.testing import SigningKey, client_token, jwks, write_jwks

pytestmark = pytest.mark.anyio

ISS = "https://ehr.example.org"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
JKU = "https://keys.example.org/cds-client.json"
AUD = "https://cds.example.org/cds-services/svc"


class Clock:
    """A settable wall clock shared by the token claims and the refresh rate limit."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def make_auth(clock: Clock, http: httpx.AsyncClient, **issuer: object) -> Authenticator:
    config = IssuerConfig(iss=ISS, **issuer)  # type: ignore[arg-type]
    return Authenticator(
        "required", [config], MemoryReplayStore(clock=clock), jwks_refresh_min_seconds=60, http_client=http, clock=clock
    )


async def accept(auth: Authenticator, key: SigningKey, clock: Clock, **headers: object) -> object:
    jwt = client_token(key, iss=ISS, aud=AUD, now=clock.now, headers=headers or None)
    return await auth.authenticate(f"Bearer {jwt}", AUD)


async def rejected(auth: Authenticator, key: SigningKey, clock: Clock, **headers: object) -> str:
    with pytest.raises(AuthError) as caught:
        await accept(auth, key, clock, **headers)
    return caught.value.reason


async def test_unknown_kid_refreshes_once_and_is_rate_limited() -> None:
    """An unknown `kid` re-fetches the JWKS once (finding a rotated key); more inside the window fetch nothing."""
    clock, old, new = Clock(), SigningKey.generate("ES384"), SigningKey.generate("ES384")
    async with respx.mock(assert_all_called=False) as mock, httpx.AsyncClient() as http:
        route = mock.get(JWKS_URL).mock(
            side_effect=[httpx.Response(200, json=jwks(old)), httpx.Response(200, json=jwks(old, new))]
        )
        auth = make_auth(clock, http, jwks_url=JWKS_URL)
        assert await accept(auth, old, clock) is not None
        assert route.call_count == 1
        clock.now += 61
        assert await accept(auth, new, clock) is not None  # rotated key: one refresh finds it
        assert route.call_count == 2
        for _ in range(3):
            assert await rejected(auth, SigningKey.generate("ES384"), clock) == "unknown-kid"
        assert route.call_count == 2  # refreshed 0 s ago: no more fetches


async def test_refresh_allowed_again_after_the_window() -> None:
    """Once the minimum refresh interval has passed, an unknown `kid` fetches the JWKS again."""
    clock, known = Clock(), SigningKey.generate("ES384")
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        route = mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks(known)))
        auth = make_auth(clock, http, jwks_url=JWKS_URL)
        assert await rejected(auth, SigningKey.generate("ES384"), clock) == "unknown-kid"
        assert await rejected(auth, SigningKey.generate("ES384"), clock) == "unknown-kid"
        assert route.call_count == 1
        clock.now += 61
        assert await rejected(auth, SigningKey.generate("ES384"), clock) == "unknown-kid"
        assert route.call_count == 2


async def test_known_kid_uses_cache() -> None:
    """Repeated tokens with a known `kid` do not re-fetch the JWKS."""
    clock, key = Clock(), SigningKey.generate("RS384")
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        route = mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks(key)))
        auth = make_auth(clock, http, jwks_url=JWKS_URL)
        for _ in range(3):
            assert await accept(auth, key, clock) is not None
        assert route.call_count == 1


async def test_jwks_server_error_rejects_and_is_rate_limited() -> None:
    """A failing JWKS endpoint rejects the token (jwks-unavailable) without a fetch per request."""
    clock, key = Clock(), SigningKey.generate("ES384")
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        route = mock.get(JWKS_URL).mock(return_value=httpx.Response(503))
        auth = make_auth(clock, http, jwks_url=JWKS_URL)
        assert await rejected(auth, key, clock) == "jwks-unavailable"
        assert await rejected(auth, key, clock) == "unknown-kid"
        assert route.call_count == 1


async def test_redirect_is_not_followed() -> None:
    """A JWKS URL answering with a redirect is not followed to the new location."""
    clock, key = Clock(), SigningKey.generate("ES384")
    async with respx.mock(assert_all_called=False) as mock:
        mock.get(JWKS_URL).mock(return_value=httpx.Response(302, headers={"Location": "https://evil.example/k"}))
        elsewhere = mock.get("https://evil.example/k").mock(return_value=httpx.Response(200, json=jwks(key)))
        auth = make_auth(clock, None, jwks_url=JWKS_URL)  # type: ignore[arg-type]
        try:
            assert await rejected(auth, key, clock) == "jwks-unavailable"
        finally:
            await auth.aclose()
        assert not elsewhere.called


async def test_allow_listed_jku_is_fetched_and_others_never_are() -> None:
    """An allow-listed `jku` is fetched and used; a `jku` off the list is refused without a request."""
    clock, key = Clock(), SigningKey.generate("ES384")
    async with respx.mock(assert_all_called=False) as mock, httpx.AsyncClient() as http:
        listed = mock.get(JKU).mock(return_value=httpx.Response(200, json=jwks(key)))
        other = mock.get("https://keys.example.org/other.json").mock(return_value=httpx.Response(200, json=jwks(key)))
        auth = make_auth(clock, http, jku_allowlist=(JKU,))
        assert await accept(auth, key, clock, jku=JKU) is not None
        assert listed.call_count == 1
        assert await rejected(auth, key, clock, jku="https://keys.example.org/other.json") == "jku-not-allowed"
        assert not other.called


async def test_jku_only_issuer_needs_jku(tmp_path: Path) -> None:
    """An issuer known only by its jku allow-list rejects tokens that carry no `jku`."""
    clock, key = Clock(), SigningKey.generate("ES384")
    async with httpx.AsyncClient() as http:
        auth = make_auth(clock, http, jku_allowlist=(JKU,))
        assert await rejected(auth, key, clock) == "no-key-source"


async def test_jwk_without_alg_of_wrong_type_is_rejected(tmp_path: Path) -> None:
    """A header `alg` that does not fit the key type (RS384 on an EC JWK without `alg`) is rejected."""
    clock, ec_key = Clock(), SigningKey.generate("ES384")
    jwk = {k: v for k, v in ec_key.public_jwk().items() if k != "alg"}
    (tmp_path / "k.json").write_text(json.dumps({"keys": [jwk]}))
    rogue = SigningKey.generate("RS384", kid=ec_key.kid)
    async with httpx.AsyncClient() as http:
        auth = make_auth(clock, http, jwks_file=tmp_path / "k.json")
        assert await rejected(auth, rogue, clock) == "bad-key"


async def test_file_jwks_reload_picks_up_rotation(tmp_path: Path) -> None:
    """A JWKS file is re-read (rate-limited) when a new `kid` appears, so rotating the file works."""
    clock, old, new = Clock(), SigningKey.generate("ES384"), SigningKey.generate("ES384")
    path = write_jwks(tmp_path / "k.json", old)
    async with httpx.AsyncClient() as http:
        auth = make_auth(clock, http, jwks_file=path)
        assert await accept(auth, old, clock) is not None
        write_jwks(path, old, new)
        assert await rejected(auth, new, clock) == "unknown-kid"  # inside the refresh window
        clock.now += 61
        assert await accept(auth, new, clock) is not None


def test_parse_jwks_rejects_private_material() -> None:
    """A JWKS that contains a private key is refused rather than used."""
    key = SigningKey.generate("ES384")
    private = {**key.public_jwk(), "d": "secret"}
    with pytest.raises(ValueError, match="private"):
        parse_jwks({"keys": [private]})


def test_parse_jwks_skips_encryption_keys_and_rejects_non_sets() -> None:
    """Keys with `use: enc` are ignored and a document without `keys` is not a JWK Set."""
    key = SigningKey.generate("ES384")
    assert parse_jwks({"keys": [{**key.public_jwk(), "use": "enc"}]}) == {}
    with pytest.raises(ValueError):
        parse_jwks({"kty": "EC"})
