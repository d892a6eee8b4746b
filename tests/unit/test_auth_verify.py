"""JWT verification: real tokens signed with freshly generated keys, accepted or rejected."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from cds_service.auth import Authenticator, AuthError, IssuerConfig, MemoryReplayStore, RedisReplayStore
from cds_service.auth.testing import SigningKey, client_token, unsigned_token, write_jwks

pytestmark = pytest.mark.anyio

ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/neck-pain-order-select"
NOW = 1_750_000_000.0


@pytest.fixture(scope="module")
def es384() -> SigningKey:
    return SigningKey.generate("ES384")


@pytest.fixture(scope="module")
def rs384() -> SigningKey:
    return SigningKey.generate("RS384")


@pytest.fixture
def auth(tmp_path: Path, es384: SigningKey, rs384: SigningKey) -> Authenticator:
    jwks_file = write_jwks(tmp_path / "jwks.json", es384, rs384)
    issuer = IssuerConfig(
        iss=ISS,
        jwks_file=jwks_file,
        jku_allowlist=("https://ehr.example.org/jwks.json",),
        jku_files={"https://ehr.example.org/jwks.json": jwks_file},
        tenant="hospital-a",
    )
    return Authenticator("required", [issuer], MemoryReplayStore(clock=lambda: NOW), clock=lambda: NOW)


def token(key: SigningKey, **kwargs: object) -> str:
    kwargs.setdefault("iss", ISS)
    kwargs.setdefault("aud", AUD)
    kwargs.setdefault("now", NOW)
    return client_token(key, **kwargs)  # type: ignore[arg-type]


async def reason(auth: Authenticator, jwt: str, audience: str = AUD) -> str:
    with pytest.raises(AuthError) as caught:
        await auth.authenticate(f"Bearer {jwt}", audience)
    return caught.value.reason


async def test_valid_es384_token_is_accepted(auth: Authenticator, es384: SigningKey) -> None:
    """A correctly signed ES384 token yields the caller's issuer, subject and tenant."""
    identity = await auth.authenticate(f"Bearer {token(es384, sub='client-1')}", AUD)
    assert identity is not None
    assert (identity.issuer, identity.subject, identity.tenant) == (ISS, "client-1", "hospital-a")
    assert identity.key_id == es384.kid


async def test_valid_rs384_token_is_accepted(auth: Authenticator, rs384: SigningKey) -> None:
    """A correctly signed RS384 token is accepted."""
    identity = await auth.authenticate(f"Bearer {token(rs384, tenant='hospital-a')}", AUD)
    assert identity is not None and identity.key_id == rs384.kid


@pytest.mark.parametrize("alg", ["ES256", "ES512", "RS256", "RS512"])
async def test_other_allowed_algorithms_are_accepted(tmp_path: Path, alg: str) -> None:
    """ES256, ES512, RS256 and RS512 signatures verify too."""
    key = SigningKey.generate(alg)
    issuer = IssuerConfig(iss=ISS, jwks_file=write_jwks(tmp_path / "k.json", key))
    auth = Authenticator("required", [issuer], MemoryReplayStore(), clock=lambda: NOW)
    assert await auth.authenticate(f"Bearer {token(key)}", AUD) is not None


async def test_audience_ignores_trailing_slash_and_accepts_list(auth: Authenticator, es384: SigningKey) -> None:
    """`aud` matches the called URL up to a trailing slash, also inside an audience list."""
    assert await auth.authenticate(f"Bearer {token(es384, aud=AUD + '/')}", AUD) is not None
    assert await auth.authenticate(f"Bearer {token(es384, aud=['https://x.example', AUD])}", AUD + "/") is not None


async def test_alg_none_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """An unsigned token (`alg: none`) is rejected."""
    payload = {"iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 300, "jti": "n1"}
    assert await reason(auth, unsigned_token({"alg": "none", "kid": es384.kid}, payload)) == "bad-alg"


async def test_hs256_with_public_key_as_secret_is_rejected(auth: Authenticator, rs384: SigningKey) -> None:
    """An HMAC token keyed with the issuer's public key (key-confusion attack) is rejected."""
    pem = rs384.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload = {"iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 300, "jti": "h1"}
    header = {"alg": "HS256", "kid": rs384.kid, "typ": "JWT"}
    signing_input = unsigned_token(header, payload).rsplit(".", 1)[0].encode()
    forged = unsigned_token(header, payload, hmac.new(pem, signing_input, hashlib.sha256).digest())
    assert await reason(auth, forged) == "bad-alg"


async def test_signature_by_another_key_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """A token claiming a trusted `kid` but signed by a different key fails the signature check."""
    impostor = SigningKey.generate("ES384", kid=es384.kid)
    assert await reason(auth, token(impostor)) == "bad-signature"


async def test_tampered_payload_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """Changing the payload of a signed token breaks the signature."""
    head, _, sig = token(es384).split(".")
    other_body = token(es384, sub="admin").split(".")[1]
    assert await reason(auth, f"{head}.{other_body}.{sig}") == "bad-signature"


async def test_key_type_not_matching_alg_is_rejected(auth: Authenticator, es384: SigningKey, rs384: SigningKey) -> None:
    """An RS384 header pointing at an EC key is rejected before any signature check."""
    rogue = SigningKey.generate("RS384", kid=es384.kid)
    assert await reason(auth, token(rogue)) == "bad-alg"


async def test_unknown_kid_is_rejected(auth: Authenticator) -> None:
    """A token whose `kid` is not in the issuer's JWKS is rejected."""
    assert await reason(auth, token(SigningKey.generate("ES384"))) == "unknown-kid"


async def test_missing_kid_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """A token without a `kid` header is rejected."""
    jwt = client_token(es384, iss=ISS, aud=AUD, now=NOW, headers={"kid": None})
    assert await reason(auth, jwt) == "missing-kid"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"now": NOW - 400, "lifetime": 300}, "expired"),
        ({"iat": NOW + 120}, "iat-in-future"),
        ({"now": NOW - 500, "lifetime": 3600}, "too-old"),
        ({"nbf": NOW + 120}, "not-yet-valid"),
        ({"aud": "https://cds.example.org/cds-services/other"}, "bad-audience"),
        ({"iss": "https://evil.example.org"}, "untrusted-issuer"),
        ({"omit": ("jti",)}, "missing-claim"),
        ({"omit": ("exp",)}, "missing-claim"),
        ({"omit": ("aud",)}, "missing-claim"),
        ({"jti": ""}, "missing-claim"),
        ({"exp": "tomorrow"}, "bad-claim"),
        ({"tenant": "hospital-b"}, "bad-tenant"),
    ],
)
async def test_bad_claims_are_rejected(
    auth: Authenticator, es384: SigningKey, claims: dict[str, Any], expected: str
) -> None:
    """Expired, future-dated, too old, not-yet-valid, wrong-audience/issuer/tenant or incomplete tokens fail."""
    assert await reason(auth, token(es384, **claims)) == expected


async def test_small_clock_differences_are_tolerated(auth: Authenticator, es384: SigningKey) -> None:
    """An `iat` 30 s ahead and an `exp` 30 s past are within the 60 s default skew."""
    assert await auth.authenticate(f"Bearer {token(es384, iat=NOW + 30)}", AUD) is not None
    assert await auth.authenticate(f"Bearer {token(es384, now=NOW - 330)}", AUD) is not None


async def test_replayed_jti_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """The same token presented twice is accepted once, then rejected as a replay."""
    jwt = token(es384)
    assert await auth.authenticate(f"Bearer {jwt}", AUD) is not None
    assert await reason(auth, jwt) == "replay"


async def test_jku_not_allow_listed_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """A `jku` outside the issuer's allow-list is refused even if the `kid` is known."""
    jwt = token(es384, headers={"jku": "https://attacker.example/jwks.json"})
    assert await reason(auth, jwt) == "jku-not-allowed"


async def test_allow_listed_jku_is_honoured(auth: Authenticator, es384: SigningKey) -> None:
    """A `jku` on the allow-list selects that JWKS."""
    jwt = token(es384, headers={"jku": "https://ehr.example.org/jwks.json"})
    assert await auth.authenticate(f"Bearer {jwt}", AUD) is not None


async def test_wrong_typ_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """A `typ` other than JWT (e.g. an access token type) is rejected."""
    assert await reason(auth, token(es384, headers={"typ": "at+jwt"})) == "bad-typ"


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "missing-token"), ("", "missing-token"), ("Basic abc", "malformed-header"), ("Bearer", "malformed-header")],
)
async def test_missing_or_malformed_header_is_rejected(auth: Authenticator, header: str | None, expected: str) -> None:
    """No Authorization header, a non-Bearer scheme or an empty token is rejected."""
    with pytest.raises(AuthError) as caught:
        await auth.authenticate(header, AUD)
    assert caught.value.reason == expected


async def test_garbage_token_is_rejected(auth: Authenticator) -> None:
    """A Bearer value that is not a JWT is rejected as malformed."""
    assert await reason(auth, "not.a.jwt") == "malformed-token"


async def test_off_mode_accepts_anything() -> None:
    """With auth off, no header is needed and None is returned."""
    auth = Authenticator("off", [], None)
    assert await auth.authenticate(None, AUD) is None


def test_enabled_mode_needs_issuers() -> None:
    """An enabled authenticator cannot be built without trusted issuers."""
    with pytest.raises(ValueError):
        Authenticator("required", [], MemoryReplayStore())


async def test_real_clock_accepts_fresh_token(tmp_path: Path, es384: SigningKey) -> None:
    """With the default wall clock, a token issued now is accepted."""
    issuer = IssuerConfig(iss=ISS, jwks_file=write_jwks(tmp_path / "k.json", es384))
    auth = Authenticator("required", [issuer], MemoryReplayStore())
    assert await auth.authenticate(f"Bearer {client_token(es384, iss=ISS, aud=AUD, now=time.time())}", AUD)


async def test_unreachable_replay_store_fails_closed(tmp_path: Path, es384: SigningKey) -> None:
    """If the shared replay store cannot be reached, a valid token is refused rather than let through."""
    issuer = IssuerConfig(iss=ISS, jwks_file=write_jwks(tmp_path / "k.json", es384))
    auth = Authenticator("required", [issuer], RedisReplayStore.from_url("redis://127.0.0.1:1/0"), clock=lambda: NOW)
    try:
        assert await reason(auth, token(es384)) == "replay-store-unavailable"
    finally:
        await auth.aclose()


async def test_replay_memory_lasts_as_long_as_the_token_is_usable(tmp_path: Path, es384: SigningKey) -> None:
    """A long-lived token's jti is kept only until its `iat` age limit, the last moment it could be accepted."""
    remembered: list[int] = []

    class RecordingStore(MemoryReplayStore):
        async def seen(self, key: str, ttl_seconds: int) -> bool:
            remembered.append(ttl_seconds)
            return await super().seen(key, ttl_seconds)

    issuer = IssuerConfig(iss=ISS, jwks_file=write_jwks(tmp_path / "k.json", es384))
    auth = Authenticator("required", [issuer], RecordingStore(), clock=lambda: NOW)
    await auth.authenticate(f"Bearer {token(es384, lifetime=86_400)}", AUD)
    await auth.authenticate(f"Bearer {token(es384, lifetime=30)}", AUD)
    assert remembered == [300 + 60 + 1, 30 + 60 + 1]


async def test_non_string_alg_is_rejected(auth: Authenticator, es384: SigningKey) -> None:
    """A header whose `alg` is not a string is rejected as a bad algorithm, not a crash."""
    payload = {"iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 300, "jti": "x"}
    assert await reason(auth, unsigned_token({"alg": ["ES384"], "kid": es384.kid}, payload)) == "bad-alg"
