"""The one exception the terminology layer raises.

    TerminologyError(path, line, message)
        a value set or product table is missing, malformed or inconsistent;
        ``line`` is the 1-based line of the offending element (0 when the whole file is at fault).

Content errors are raised at load time so that a broken file stops start-up instead of
surfacing as wrong cards at request time.
"""

from __future__ import annotations

from pathlib import Path


class TerminologyError(Exception):
    """A terminology content file is invalid."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")
