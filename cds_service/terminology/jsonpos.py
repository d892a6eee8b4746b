"""Line numbers for elements of a JSON document, for error messages.

`line_of(text, path)` returns the 1-based line where the value at ``path`` (a sequence of
object keys and array indices, as in a pydantic error ``loc``) starts. When the path cannot be
followed to the end, the line of the deepest element reached is returned. The document is
expected to be valid JSON (it is only called after a successful parse).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from json.decoder import scanstring  # type: ignore[attr-defined]  # the C scanner, public in json.decoder

_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


class _Locator:
    def __init__(self, text: str) -> None:
        self.text = text
        self.offsets: dict[tuple[str | int, ...], int] = {}

    def skip_ws(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        assert match is not None
        return match.end()

    def value(self, pos: int, path: tuple[str | int, ...]) -> int:
        pos = self.skip_ws(pos)
        self.offsets[path] = pos
        char = self.text[pos]
        if char == "{":
            return self.obj(pos + 1, path)
        if char == "[":
            return self.array(pos + 1, path)
        if char == '"':
            end: int = scanstring(self.text, pos + 1)[1]
            return end
        match = _SCALAR.match(self.text, pos)
        if match is None:
            raise ValueError(f"invalid JSON at offset {pos}")
        return match.end()

    def obj(self, pos: int, path: tuple[str | int, ...]) -> int:
        pos = self.skip_ws(pos)
        if self.text[pos] == "}":
            return pos + 1
        while True:
            pos = self.skip_ws(pos)
            key, pos = scanstring(self.text, pos + 1)
            pos = self.skip_ws(pos) + 1  # the ':'
            pos = self.skip_ws(self.value(pos, (*path, key)))
            if self.text[pos] == "}":
                return pos + 1
            pos += 1  # the ','

    def array(self, pos: int, path: tuple[str | int, ...]) -> int:
        pos = self.skip_ws(pos)
        if self.text[pos] == "]":
            return pos + 1
        index = 0
        while True:
            pos = self.skip_ws(self.value(pos, (*path, index)))
            if self.text[pos] == "]":
                return pos + 1
            pos += 1
            index += 1


def line_of(text: str, path: Sequence[str | int]) -> int:
    """Return the 1-based line of the element at ``path`` (or of its deepest existing ancestor)."""
    return line_finder(text)(path)


def line_finder(text: str) -> Callable[[Sequence[str | int]], int]:
    """`line_of` for many paths of one document: the document is read once."""
    locator = _Locator(text)
    try:
        locator.value(0, ())
    except (ValueError, IndexError):
        return lambda path: 1

    def find(path: Sequence[str | int]) -> int:
        for depth in range(len(path), -1, -1):
            offset = locator.offsets.get(tuple(path[:depth]))
            if offset is not None:
                return text.count("\n", 0, offset) + 1
        return 1

    return find
