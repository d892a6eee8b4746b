"""The Redis replay store against the real Redis on 127.0.0.1:6379, as two replicas would use it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio

from cds_service.auth import Authenticator, AuthError, IssuerConfig, RedisReplayStore
from cds_service.auth.replay import replay_key
from cds_service.auth.testing import SigningKey, client_token, write_jwks

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

REDIS_URL = "redis://127.0.0.1:6379/0"
ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/svc"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix unique to this test; its keys are deleted afterwards. Fails if Redis is down."""
    value = f"cds-test:{uuid.uuid4()}:"
    admin = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        assert await admin.ping(), "Redis on 127.0.0.1:6379 did not answer PING"
        yield value
        keys = [key async for key in admin.scan_iter(match=value + "*")]
        if keys:
            await admin.delete(*keys)
    finally:
        await admin.aclose()


async def test_jti_seen_by_one_replica_is_rejected_by_another(prefix: str) -> None:
    """A key recorded through one Redis client is reported as seen through a second, separate client."""
    first = RedisReplayStore.from_url(REDIS_URL, prefix=prefix)
    second = RedisReplayStore.from_url(REDIS_URL, prefix=prefix)
    try:
        key = replay_key(ISS, str(uuid.uuid4()))
        assert await first.seen(key, 60) is False
        assert await second.seen(key, 60) is True
        assert await first.seen(key, 60) is True
    finally:
        await first.aclose()
        await second.aclose()


async def test_keys_carry_the_token_lifetime_as_ttl(prefix: str) -> None:
    """The stored key expires with the token (SET NX EX), so Redis does not fill up with old ids."""
    store = RedisReplayStore.from_url(REDIS_URL, prefix=prefix)
    admin = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        await store.seen("abc", 120)
        ttl = await admin.ttl(prefix + "abc")
        assert 0 < ttl <= 120
    finally:
        await store.aclose()
        await admin.aclose()


async def test_token_replayed_to_another_replica_is_refused(prefix: str, tmp_path: Path) -> None:
    """A signed token accepted by replica A is rejected as a replay by replica B sharing Redis."""
    key = SigningKey.generate("ES384")
    issuer = IssuerConfig(iss=ISS, jwks_file=write_jwks(tmp_path / "jwks.json", key))
    replica_a = Authenticator("required", [issuer], RedisReplayStore.from_url(REDIS_URL, prefix=prefix))
    replica_b = Authenticator("required", [issuer], RedisReplayStore.from_url(REDIS_URL, prefix=prefix))
    try:
        jwt = client_token(key, iss=ISS, aud=AUD)
        assert await replica_a.authenticate(f"Bearer {jwt}", AUD) is not None
        with pytest.raises(AuthError, match="replay"):
            await replica_b.authenticate(f"Bearer {jwt}", AUD)
        fresh = client_token(key, iss=ISS, aud=AUD)
        assert await replica_b.authenticate(f"Bearer {fresh}", AUD) is not None
    finally:
        await replica_a.aclose()
        await replica_b.aclose()
