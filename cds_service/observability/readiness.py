"""Readiness: can this process answer hooks now? Used by ``GET /readyz`` and the ``cds_ready`` gauge.

Checks, each reported by name:

* ``content`` — a content set is loaded and has rules. It also carries what makes the content
  *degraded* though still serving: ``rule_errors`` (rule id → cards dropped since this content was
  loaded, because the rule raised or its card failed to render) and ``reload_problems`` (the
  ``file:line: message`` list of the last rejected reload; the previous content keeps serving);
* ``feedback`` — when the app has a feedback store (``app.state.feedback``): its ``ping()``
  (sync or async), or else ``SELECT 1`` on its SQLAlchemy ``engine`` (``feedback.store.engine``),
  succeeds within ``STORAGE_TIMEOUT_SECONDS``;
* ``replay_store`` — likewise for the JWT replay store, when it offers ``ping()``.

Failures are reported by check name and exception type only.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from sqlalchemy import text
from sqlalchemy.engine import Engine

STORAGE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)


def _select_one(engine: Engine) -> bool:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return True


def _probe(store: Any) -> Callable[[], Any] | None:
    """How to check ``store``: its ``ping``, else ``SELECT 1`` on its (or its ``.store``'s) engine."""
    for candidate in (store, getattr(store, "store", None)):
        ping: Callable[[], Any] | None = getattr(candidate, "ping", None)
        if callable(ping):
            return ping
        engine = getattr(candidate, "engine", None)
        if isinstance(engine, Engine):
            return lambda: anyio.to_thread.run_sync(_select_one, engine, abandon_on_cancel=True)
    return None


async def _ping(store: Any) -> dict[str, Any]:
    probe = _probe(store)
    if probe is None:
        return {"ok": True, "checked": False}
    try:
        result = probe()
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, STORAGE_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not reachable"
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": result is not False, "checked": True}


async def check_readiness(state: Any) -> Readiness:
    """The readiness of the app whose ``app.state`` is ``state``."""
    checks: dict[str, dict[str, Any]] = {}
    store = getattr(state, "content", None)
    content = getattr(store, "current", None)
    rules = len(getattr(content, "rules", ()) or ())
    checks["content"] = {
        "ok": rules > 0,
        "version": getattr(content, "version", None),
        "rules": rules,
        "rule_errors": dict(sorted((getattr(store, "rule_errors", None) or {}).items())),
        "reload_problems": list(getattr(store, "last_problems", None) or ()),
    }
    feedback = getattr(state, "feedback", None)
    if feedback is not None:
        checks["feedback"] = await _ping(feedback)
    replay_store = getattr(getattr(state, "authenticator", None), "replay_store", None)
    if replay_store is not None and _probe(replay_store) is not None:
        checks["replay_store"] = await _ping(replay_store)
    return Readiness(all(c["ok"] for c in checks.values()), checks)
