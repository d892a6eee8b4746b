"""``Ledger``: what a crash cost the served-card records, reported by the next process to start.

Served cards wait in memory (``CardRecorder``) for at most ``CDS_FEEDBACK_FLUSH_SECONDS`` before
they are written; a process killed outright (``kill -9``, the OOM killer, a node failure) loses
what was waiting. Each process keeps a small file, ``<CDS_FEEDBACK_STATE_DIR>/<pid>.json``, with its
running totals of cards queued, written and logged as lost, rewritten when they changed, at most
once a flush interval as cards are queued (even while a write is stuck) and after every write,
and removed at a clean shutdown. A process starting finds the files of
processes that are gone (or of an earlier process with its own pid, as in a restarted container),
logs ``served cards lost in a crash`` as an error with the number of cards queued and not written
when that process last saved its totals, and removes the file. Cards served after that (at most
one flush interval's worth) are not in the count. The file holds counts only: no card, rule or patient.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

Totals = tuple[int, int, int]  # queued, written, lost


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our pid on an old file: an earlier process (a restarted container's pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """This process's served-card totals on disk, and the reckoning of processes that crashed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path: Path | None = directory / f"{os.getpid()}.json"
        self.saved: Totals | None = None

    def open(self) -> int:
        """Create the directory, report (log) and remove the files of crashed processes; returns
        the number of cards they lost. A directory that cannot be used turns the ledger off."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("served-card ledger off: %s", exc.strerror, extra={"error_type": type(exc).__name__})
            self.path = None
            return 0
        lost = 0
        for path in sorted(self.directory.glob("*.json")):
            if not path.stem.isdigit() or _alive(int(path.stem)):
                continue
            lost += self._reckon(path)
        return lost

    def _reckon(self, path: Path) -> int:
        try:
            totals = json.loads(path.read_text(encoding="utf-8"))
            queued, written, lost = (int(totals[k]) for k in ("queued", "written", "lost"))
        except (OSError, ValueError, KeyError, TypeError):
            queued = written = lost = 0
        missing = max(0, queued - written - lost)
        if missing:
            log.error(
                "served cards lost in a crash",
                extra={"cards": missing, "previous_pid": int(path.stem), "queued": queued, "written": written},
            )
        with contextlib.suppress(OSError):
            path.unlink()
        return missing

    def save(self, totals: Totals) -> None:
        """Record this process's totals (atomically: a crash mid-write leaves the previous file)."""
        if self.path is None or totals == self.saved:
            return
        queued, written, lost = totals
        temporary = self.path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps({"queued": queued, "written": written, "lost": lost}), encoding="utf-8")
            temporary.replace(self.path)
        except OSError:
            return
        self.saved = totals

    def close(self) -> None:
        """A clean shutdown: nothing is outstanding, so the file goes."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
