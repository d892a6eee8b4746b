"""Random ids are version-4 UUIDs in their canonical text form, never repeated."""

from __future__ import annotations

import uuid

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
