"""The content currently served, swapped atomically on reload.

A request takes ``store.current`` once and uses that object throughout, so no request ever
sees half-old, half-new content. A reload runs every ``lint-cards`` check first when the store
knows the fixture requests (``fixtures``; the app passes ``CDS_FIXTURES_DIR``): value-set codes,
every card rendered, every rule run on every fixture and its cards compared with the fixture's
expectation. Content that fails leaves the old content serving and logs every problem as
``file:line: message`` (also in ``last_problems``, shown by ``/readyz``). Start-up loads and
validates without the fixture run, so a process starts in well under a second. Reloads are serialised: the poller, SIGHUP and
``POST /admin/reload-content`` may all ask at once, and the last to finish is the newest load.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from cds_service.content.loader import ContentError, ContentSet, content_files, load_content

log = logging.getLogger(__name__)


Verify = Callable[[Path, Path], ContentSet]  # (content dir, fixtures dir) -> content that passed every check


class ContentStore:
    """The content serving; a reload with ``fixtures`` and ``verify`` (the lint checks, which run
    the hook pipeline and so live above this package) must pass ``verify`` before it serves."""

    def __init__(self, directory: Path, fixtures: Path | None = None, verify: Verify | None = None):
        self.directory = Path(directory)
        self.fixtures = fixtures
        self.verify = verify
        self.current: ContentSet = load_content(self.directory)
        self._stamp = self._fingerprint()
        self._lock = threading.Lock()
        self.reloads = 0
        self.failures = 0
        self.last_problems: list[str] = []
        self.rule_errors: Counter[str] = Counter()  # per rule id, since the content serving was loaded

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in content_files(self.directory))

    def reload(self) -> bool:
        """Load the directory again; True if new content now serves, False (logged) if rejected."""
        with self._lock:
            try:
                self._stamp = self._fingerprint()
            except OSError:
                pass  # a file vanished mid-listing; the load below reports what is missing
            try:
                fresh = self._load()
            except ContentError as exc:
                return self._reject([str(p) for p in exc.problems])
            except Exception as exc:  # e.g. a file removed while being read: keep serving
                return self._reject([f"{self.directory}:0: {type(exc).__name__}: {exc}"])
            self.current = fresh
            self.reloads += 1
            self.last_problems = []
            self.rule_errors = Counter()
        log.info("content reloaded", extra={"content_version": fresh.version})
        return True

    def _load(self) -> ContentSet:
        if self.fixtures is None or self.verify is None:
            return load_content(self.directory)
        return self.verify(self.directory, self.fixtures)

    def _reject(self, problems: list[str]) -> bool:
        self.failures += 1
        self.last_problems = problems
        log.error(
            "content reload rejected; previous content %s keeps serving:\n%s",
            self.current.version,
            "\n".join(problems),
            extra={"problems": problems},
        )
        return False

    def note_rule_errors(self, rule_ids: Iterable[str]) -> None:
        """Count cards dropped at run time (a rule raised, a card failed to render): readiness shows them."""
        self.rule_errors.update(rule_ids)

    def reload_if_changed(self) -> bool | None:
        """Reload when any content file changed since the last look; None when nothing changed."""
        try:
            stamp = self._fingerprint()
        except OSError:
            return None
        if stamp == self._stamp:
            return None
        return self.reload()

    async def watch(self, interval: float) -> None:
        """Poll for changes forever (run as a background task); an unexpected error never stops it."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.reload_if_changed)
            except Exception:
                log.exception("content poll failed")
