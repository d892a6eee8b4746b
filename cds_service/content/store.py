"""The content currently served, swapped atomically on reload.

A request takes ``store.current`` once and uses that object throughout, so no request ever
sees half-old, half-new content. A reload that fails validation leaves the old content serving.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cds_service.content.loader import ContentError, ContentSet, content_files, load_content

log = logging.getLogger(__name__)


class ContentStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.current: ContentSet = load_content(self.directory)
        self._stamp = self._fingerprint()
        self.reloads = 0
        self.failures = 0

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in content_files(self.directory))

    def reload(self) -> bool:
        """Load the directory again; True if new content now serves, False (logged) if rejected."""
        try:
            fresh = load_content(self.directory)
        except ContentError as exc:
            self.failures += 1
            log.error("content reload rejected; previous content keeps serving", extra={"problems": [str(p) for p in exc.problems]})
            return False
        self.current = fresh
        self.reloads += 1
        log.info("content reloaded", extra={"content_version": fresh.version})
        return True

    def reload_if_changed(self) -> bool | None:
        """Reload when any content file changed since the last look; None when nothing changed."""
        try:
            stamp = self._fingerprint()
        except OSError:
            return None
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return self.reload()

    async def watch(self, interval: float) -> None:
        """Poll for changes forever (run as a background task)."""
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.reload_if_changed)
