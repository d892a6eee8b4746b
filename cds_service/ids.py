"""Random identifiers: version-4 UUIDs as text (card, suggestion and drafted resource ids)."""

from __future__ import annotations

import os
import threading

# RFC 4122 version 4: the variant bits are 10, the two bits under them random.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
POOL_BYTES = 4096  # read from os.urandom at once: 256 ids per system call instead of one
_pool: list[str] = []  # ids made from the last read and not handed out yet
_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child: never hand out ids the parent (or a sibling) may hand out too."""
    _pool.clear()


os.register_at_fork(after_in_child=_forget_pool)


def _as_uuid(digits: str) -> str:
    """32 random hex digits as the text of a version-4 UUID: the 13th digit becomes the version (4),
    the 17th keeps its two low bits under the variant bits 10 (122 random bits in all)."""
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"


def random_uuid() -> str:
    """What ``str(uuid.uuid4())`` gives — 122 random bits from ``os.urandom`` — at a fraction of its
    cost (no ``UUID`` object is built and checked only to be formatted; one system call, and the
    formatting of all its ids in one pass, per ``POOL_BYTES // 16`` ids). Each id is handed out once."""
    with _lock:
        if not _pool:
            digits = os.urandom(POOL_BYTES).hex()
            _pool.extend(_as_uuid(digits[start : start + 32]) for start in range(0, len(digits), 32))
        return _pool.pop()
