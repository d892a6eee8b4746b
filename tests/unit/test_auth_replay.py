"""The replay store: atomic check-and-set, expiry, bounds, and store selection."""

from __future__ import annotations

import pytest

from cds_service.auth import MemoryReplayStore, RedisReplayStore, ReplayStore, build_replay_store
from cds_service.auth.errors import ReplayStoreError
from cds_service.auth.replay import replay_key

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_second_sighting_is_a_replay() -> None:
    """The first `seen` of a key returns False, the next one True."""
    store = MemoryReplayStore()
    assert await store.seen("k", 60) is False
    assert await store.seen("k", 60) is True
    assert await store.seen("other", 60) is False


async def test_entries_expire_after_ttl() -> None:
    """A key is forgotten once its TTL has passed."""
    clock = Clock()
    store = MemoryReplayStore(clock=clock)
    assert await store.seen("k", 10) is False
    clock.now += 9
    assert await store.seen("k", 10) is True
    clock.now += 2
    assert await store.seen("k", 10) is False
    assert len(store) == 1


async def test_store_is_bounded() -> None:
    """A full store drops the soonest-expiring key to make room and never grows past its bound."""
    store = MemoryReplayStore(max_entries=2, clock=Clock())
    assert await store.seen("short", 5) is False
    assert await store.seen("long", 500) is False
    assert await store.seen("new", 500) is False
    assert len(store) == 2
    assert await store.seen("long", 500) is True
    assert await store.seen("short", 5) is False  # evicted, so no longer remembered


def test_replay_key_depends_on_issuer_and_jti() -> None:
    """The store key is a fixed-length hash that differs per issuer and per `jti`."""
    key = replay_key("https://a.example", "123")
    assert len(key) == 64 and "123" not in key
    assert key == replay_key("https://a.example", "123")
    assert key != replay_key("https://b.example", "123")
    assert key != replay_key("https://a.example", "124")


async def test_store_choice_follows_redis_url() -> None:
    """No Redis URL gives the in-memory store; a Redis URL gives the shared Redis store."""
    memory = build_replay_store(None)
    assert isinstance(memory, MemoryReplayStore) and isinstance(memory, ReplayStore)
    shared = build_replay_store("redis://127.0.0.1:6379/0")
    try:
        assert isinstance(shared, RedisReplayStore) and isinstance(shared, ReplayStore)
    finally:
        await shared.aclose()


async def test_unreachable_redis_raises_store_error() -> None:
    """A Redis store that cannot connect raises ReplayStoreError, so callers fail closed."""
    store = RedisReplayStore.from_url("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(ReplayStoreError):
            await store.seen("k", 60)
    finally:
        await store.aclose()
