"""JWT replay protection: remember each ``iss`` + ``jti`` until the token expires.

``ReplayStore.seen(key, ttl_seconds)`` is an atomic check-and-set: it records ``key`` for
``ttl_seconds`` and returns True if the key was already recorded (a replay). The in-memory store
suits a single process; with several replicas set ``CDS_REDIS_URL`` so they share one Redis store.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from .errors import ReplayStoreError


@runtime_checkable
class ReplayStore(Protocol):
    """Remembers token ids; ``seen`` records ``key`` and says whether it was already there."""

    async def seen(self, key: str, ttl_seconds: int) -> bool: ...

    async def aclose(self) -> None: ...


def replay_key(iss: str, jti: str) -> str:
    """A fixed-length key for one token id of one issuer (no token material in the store)."""
    return hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()


class MemoryReplayStore:
    """A bounded, expiring in-process store; when full, the soonest-expiring entries go first."""

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    async def seen(self, key: str, ttl_seconds: int) -> bool:
        # No await inside: the check and the set cannot interleave with another request.
        now = self._clock()
        self._purge(now)
        expires = self._expiry.get(key)
        if expires is not None and expires > now:
            return True
        while len(self._expiry) >= self._max_entries:
            self._evict_one()
        deadline = now + max(1, ttl_seconds)
        self._expiry[key] = deadline
        heapq.heappush(self._heap, (deadline, key))
        return False

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._evict_one()

    def _evict_one(self) -> None:
        deadline, key = heapq.heappop(self._heap)
        if self._expiry.get(key) == deadline:
            del self._expiry[key]

    async def aclose(self) -> None:
        self._expiry.clear()
        self._heap.clear()


class RedisReplayStore:
    """A store shared by every replica: ``SET <prefix><key> 1 NX EX <ttl>`` in Redis."""

    def __init__(self, client: redis_asyncio.Redis, prefix: str = "cds:auth:jti:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "cds:auth:jti:") -> RedisReplayStore:
        client = redis_asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, prefix=prefix)

    async def seen(self, key: str, ttl_seconds: int) -> bool:
        try:
            created = await self._client.set(self._prefix + key, b"1", nx=True, ex=max(1, ttl_seconds))
        except (RedisError, OSError) as exc:
            raise ReplayStoreError(f"replay store unavailable: {type(exc).__name__}") from None
        return not created

    async def ping(self) -> bool:
        """Readiness (``/readyz``): Redis answers; without it every authenticated call is a 401."""
        return bool(await self._client.ping())

    async def aclose(self) -> None:
        await self._client.aclose()


def build_replay_store(redis_url: str | None) -> ReplayStore:
    """Redis when ``redis_url`` is set (shared by replicas), else a per-process memory store."""
    if redis_url:
        return RedisReplayStore.from_url(redis_url)
    return MemoryReplayStore()
