"""The content currently served, swapped atomically on reload.

A request takes ``store.current`` once and uses that object throughout, so no request ever
sees half-old, half-new content. A reload runs every ``lint-cards`` check first when the store
knows the fixture requests (``fixtures``; the app passes ``CDS_FIXTURES_DIR``): value-set codes,
every card rendered, every rule run on every fixture and its cards compared with the fixture's
expectation. Content that fails leaves the old content serving and logs every problem as
``file:line: message`` (also in ``last_problems``, shown by ``/readyz``). Start-up loads and
validates without the fixture run, so a process starts in well under a second. Reloads are serialised: the poller, SIGHUP and
``POST /admin/reload-content`` may all ask at once, and the last to finish is the newest load.

Cards dropped at run time are counted for readiness (``rule_errors``) only when the content is at
fault: a rule that raised, or a card that failed to render and fails on the content's own sample data
too (``confirm``, asked once per content version and rule). A card that renders on those failed on the
request's data: any caller could send such data, so it must not make readiness degraded.
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
Confirm = Callable[[ContentSet, str], bool]  # (content, rule id) -> its card fails on the content's sample data
CONFIRMED_MAX = 1024  # (content version, rule id) answers of ``confirm`` kept


class ContentStore:
    """The content serving; a reload with ``fixtures`` and ``verify`` (the lint checks, which run
    the hook pipeline and so live above this package) must pass ``verify`` before it serves.
    ``confirm`` (likewise from above) tells a card that fails on the content from one that failed on
    a request's data (module docstring); without it every dropped card counts."""

    def __init__(self, directory: Path, fixtures: Path | None = None, verify: Verify | None = None, confirm: Confirm | None = None):
        self.directory = Path(directory)
        self.fixtures = fixtures
        self.verify = verify
        self.confirm = confirm
        self._confirmed: dict[tuple[str, str], bool] = {}
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

    def note_rule_errors(self, raised: Iterable[str], unrendered: Iterable[str] = (), content: ContentSet | None = None) -> None:
        """Count cards dropped at run time because of the content, for readiness: each rule that
        ``raised``, and each ``unrendered`` card (of ``content``, by default the current one) whose
        rule's card fails on the content's sample data too."""
        content = content or self.current
        counted = [*raised, *(rule_id for rule_id in unrendered if self._content_fault(content, rule_id))]
        self.rule_errors.update(counted)  # a list: a mapping's values would be added as counts

    def _content_fault(self, content: ContentSet, rule_id: str) -> bool:
        """Whether the card of ``rule_id`` fails on ``content`` itself (``confirm``, once per version and rule)."""
        if self.confirm is None:
            return True
        key = (content.version, rule_id)
        found = self._confirmed.get(key)
        if found is None:
            try:
                found = self.confirm(content, rule_id)
            except Exception:  # a check that cannot run: counted, as without one
                found = True
            if len(self._confirmed) >= CONFIRMED_MAX:
                self._confirmed.clear()
            self._confirmed[key] = found
        return found

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
