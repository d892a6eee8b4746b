"""Random ids are version-4 UUIDs in their canonical text form, never repeated."""

from __future__ import annotations

import os
import uuid

import pytest

from cds_service import ids

from cds_service.ids import random_uuid


def test_random_uuids_are_canonical_version_4() -> None:
    """Each id parses as an RFC 4122 version-4 UUID whose text is the id itself."""
    for _ in range(2000):
        text = random_uuid()
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_random_uuids_differ() -> None:
    """Ten thousand ids are all distinct, and every hex digit of the random part varies."""
    ids = [random_uuid() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len({i[pos] for i in ids}) > 8 for pos in (0, 9, 15, 20, 35))


def test_ids_drawn_across_pool_refills_differ() -> None:
    """Ids drawn while the pool of random bytes is read again and again are all distinct."""
    count = 3 * ids.POOL_BYTES // 16 + 7
    drawn = [random_uuid() for _ in range(count)]
    assert len(set(drawn)) == count


def test_forked_child_draws_other_ids_than_its_parent() -> None:
    """A forked process starts from new random bytes: its next ids are not the parent's next ids."""
    random_uuid()  # the pool holds unused bytes when the process forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids, then leave at once
        os.write(write, "".join(random_uuid() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode()
    parent = "".join(random_uuid() for _ in range(4))
    assert len(child) == len(parent) == 4 * 36
    assert child != parent


def test_ids_are_the_uuids_of_the_random_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each id of a pool is ``uuid.UUID(bytes=..., version=4)`` of one 16-byte block of the bytes read, each block used once."""
    random = bytes(range(256)) * (ids.POOL_BYTES // 256)
    monkeypatch.setattr(ids.os, "urandom", lambda size: random[:size])
    ids._forget_pool()
    drawn = [random_uuid() for _ in range(ids.POOL_BYTES // 16)]
    blocks = [random[start : start + 16] for start in range(0, ids.POOL_BYTES, 16)]
    assert sorted(drawn) == sorted(str(uuid.UUID(bytes=block, version=4)) for block in blocks)
    ids._forget_pool()
