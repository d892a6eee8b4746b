"""Explicit content reloads, besides the poller: ``POST /admin/reload-content`` and SIGHUP.

The route needs the same client authentication as the CDS Hooks routes, and is refused (401) in
``sandbox`` mode, whose signing key is public. It answers 200 with the
version now serving, or 422 with the problems (``file:line: message``) when the files on disk
were rejected and the previous content keeps serving. SIGHUP reloads in each worker process
that receives it (the process running the app's event loop in the main thread).

With several worker processes (``serve --workers N``) rely on the poller: the route reloads only
the worker that answers it, and SIGHUP sent to uvicorn's main process restarts the workers instead,
and a worker does not start on content that does not load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request

from cds_service.auth import require_admin
from cds_service.content.store import ContentStore
from cds_service.jsonresponse import JSONResponse

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(require_admin)], tags=["operations"])


@router.post("/admin/reload-content", response_class=JSONResponse)
async def reload_content(request: Request) -> JSONResponse:
    """Load the content directory again now; the old content keeps serving if it is rejected."""
    store: ContentStore = request.app.state.content
    ok = await asyncio.to_thread(store.reload)
    body = {"reloaded": ok, "content_version": store.current.version}
    if not ok:
        return JSONResponse({**body, "problems": store.last_problems}, status_code=422)
    return JSONResponse(body)


def install_sighup(store: ContentStore) -> Callable[[], None]:
    """Reload ``store`` on SIGHUP; returns the function that removes the handler (a no-op where none was set)."""
    sighup = getattr(signal, "SIGHUP", None)
    if sighup is None:
        return lambda: None
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Future[bool]] = set()

    def on_hup() -> None:
        log.info("SIGHUP: reloading content")
        future = asyncio.ensure_future(asyncio.to_thread(store.reload))
        pending.add(future)
        future.add_done_callback(pending.discard)

    try:
        loop.add_signal_handler(sighup, on_hup)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread (e.g. a test client)
        return lambda: None

    def remove() -> None:
        with contextlib.suppress(ValueError, RuntimeError):
            loop.remove_signal_handler(sighup)

    return remove
