"""``create_app(settings)``: wiring only. Every part is built once here and kept in ``app.state``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from cds_service import __version__
from cds_service.auth import AuthError, auth_error_handler, build_authenticator
from cds_service.bodylimit import BodyLimit
from cds_service.content import reload as content_reload
from cds_service.content.loader import ContentSet
from cds_service.content.store import ContentStore
from cds_service.errors import ErrorBoundary, install_error_handlers
from cds_service.feedback import runtime as feedback
from cds_service.fhir import nullcheck
from cds_service.transience import SeenCards
from cds_service.fhir.client import create_http_client
from cds_service.health import metrics_router
from cds_service.health import router as health_router
from cds_service.hooks.routes import router as hooks_router
from cds_service.hooks.routes import serve_hook_calls
from cds_service.observability.fhir import InstrumentedFhirClient
from cds_service.observability.metrics import Metrics, serve_metrics
from cds_service.observability.middleware import RequestObserver
from cds_service.preview.routes import router as preview_router
from cds_service.settings import Settings, get_settings

log = logging.getLogger(__name__)

# A heavy hook call allocates some 10^5 short-lived objects (the parsed body, its models). At the
# default gen-0 threshold (700) that is hundreds of collections per call, and each older-generation
# collection walks the whole live request. Request data is acyclic (JSON trees, models) and freed
# by reference counting whatever the threshold, so collections can be rare.
GC_THRESHOLDS = (50_000, 10, 10)


def tune_gc() -> tuple[int, int, int]:
    """After start-up: freeze what is loaded (content, models) out of the collector's way, and
    collect rarely. Both shorten tail latency. Returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return previous


def verified_content(directory: Path, fixtures: Path) -> ContentSet:
    """A reload's content after every lint check (imported on the first reload: the checks load the
    code tables, some hundred MB the serving process otherwise never holds)."""
    from cds_service.preview.lint import verified_content as verify

    return verify(directory, fixtures)


def fails_on_samples(content: ContentSet, rule_id: str) -> bool:
    """Whether a rule's card fails on the content's own sample data (``ContentStore.confirm``)."""
    from cds_service.preview.samples import fails_on_samples as fails

    return fails(content, rule_id)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app for ``settings`` (from the environment when not given)."""
    settings = settings or get_settings()
    content = ContentStore(settings.content_dir, settings.fixtures_dir, verify=verified_content, confirm=fails_on_samples)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # migrates; an unreachable DB stops start-up
        app.state.feedback = await feedback.start(
            settings.feedback_db_url, settings.feedback_flush_seconds, settings.feedback_state_dir
        )
        http = create_http_client(settings)
        app.state.fhir_client = InstrumentedFhirClient(
            http,
            app.state.metrics,
            max_pages=settings.fhir_max_pages,
            max_response_bytes=settings.fhir_max_response_bytes,
            allowed_hosts=settings.fhir_allowed_hosts,
            allow_http=not settings.production,
        )
        stop_metrics = serve_metrics(app.state.metrics, settings.host, settings.metrics_port)
        watcher = asyncio.create_task(content.watch(settings.content_poll_seconds)) if settings.content_poll_seconds else None
        remove_sighup = content_reload.install_sighup(content)  # SIGHUP reloads the content
        gc_thresholds = tune_gc()
        null_check = nullcheck.state()
        log.log(
            logging.INFO if null_check == "fast" else logging.WARNING,
            "service started",
            extra={"content_version": content.current.version, "fhir_null_check": null_check},
        )
        try:
            yield
        finally:
            gc.set_threshold(*gc_thresholds)
            stop_metrics()
            remove_sighup()
            if watcher is not None:
                watcher.cancel()
            await http.aclose()
            await app.state.authenticator.aclose()
            await feedback.stop(app.state.feedback)

    app = FastAPI(
        title="Neck and upper-back pain CDS Hooks service",
        version=__version__,
        lifespan=lifespan,
        docs_url=None if settings.production else "/docs",
        redoc_url=None,
        openapi_url=None if settings.production else "/openapi.json",
    )
    app.state.settings = settings
    app.state.content = content
    app.state.fhir_client = None
    app.state.feedback = None
    app.state.metrics = Metrics(content)
    window = settings.card_repeat_window_seconds
    app.state.seen_cards = SeenCards(window) if window > 0 else None
    app.state.authenticator = build_authenticator(settings)  # bad auth config stops start-up
    install_error_handlers(app)
    app.add_exception_handler(AuthError, auth_error_handler)
    serve_hook_calls(app.router)  # first: routes are matched in order, and hook calls are the traffic
    app.include_router(hooks_router)
    app.include_router(health_router)
    if settings.metrics_port is None and not settings.production:  # else on its own port (serve_metrics)
        app.include_router(metrics_router)
    app.include_router(content_reload.router)
    if settings.preview_enabled:  # fixture patients only; off in production
        app.include_router(preview_router)
    # Browser clients (the Sandbox) send Authorization and Content-Type, and Chrome's
    # private-network preflight when a public page calls a service on localhost.
    app.add_middleware(
        BodyLimit, max_body_bytes=settings.max_body_bytes, max_buffered_bytes=settings.max_buffered_body_bytes
    )  # inside CORS, so its 413 and 503 carry the CORS headers
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=settings.cors_origin_regex,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        allow_private_network=True,
        max_age=600,
    )
    app.add_middleware(RequestObserver, metrics=app.state.metrics)  # sees every answer (500 when the app raised)
    app.add_middleware(ErrorBoundary)  # outermost: answers and logs what nothing handled, without its message
    return app
