"""The ``cds-service`` command: serve, load-fixtures, the content and value-set tools, and the feedback report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer

from cds_service.commands.call import call
from cds_service.commands.content import lint_cards, preview, simulate
from cds_service.commands.export import export
from cds_service.commands.feedback import db_app, feedback_report
from cds_service.settings import get_settings
from cds_service.commands.valuesets import valuesets_app

app = typer.Typer(help="Neck and upper-back pain CDS Hooks service.", no_args_is_help=True, add_completion=False)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to bind (default: CDS_HOST or 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default: CDS_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    content_dir: Annotated[Optional[Path], typer.Option(help="Card content directory (default: bundled cards/).")] = None,
) -> None:
    """Run the service with uvicorn."""
    import os

    import uvicorn

    from cds_service.httpprotocol import BoundedHttpToolsProtocol
    from cds_service.observability.logging import configure_logging, logging_config
    if content_dir is not None:
        os.environ["CDS_CONTENT_DIR"] = str(content_dir)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        "cds_service.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=logging_config(settings.log_level, settings.log_json),  # the same in every worker
        log_level=settings.log_level.lower(),
        access_log=False,  # one "request" line per request comes from RequestObserver
        http=BoundedHttpToolsProtocol,  # request heads bounded in size and time
        # X-Forwarded-Proto/-For only from the configured proxies: a client cannot choose the scheme
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=",".join(settings.forwarded_allow_ips) or None,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]  # uvicorn takes a float
    )


@app.command("load-fixtures")
def load_fixtures(
    fhir_server: Annotated[str, typer.Option("--fhir-server", help="Base URL of the FHIR server.")],
    patient: Annotated[Optional[list[str]], typer.Option(help="Fixture patient name (repeatable; default all).")] = None,
) -> None:
    """Put the fixture patients (dates made current) into a FHIR server."""
    from cds_service.fhir.errors import FhirError
    from cds_service.commands.load_fixtures import load_fixtures as load

    try:
        refs = asyncio.run(load(fhir_server, names=patient or None, root=get_settings().fixtures_dir))
    except FhirError as exc:
        typer.echo(f"loading failed: {exc.reason}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"loaded {len(refs)} resources into {fhir_server}")


app.command("export")(export)
app.command("call")(call)
app.command("lint-cards")(lint_cards)
app.command("preview")(preview)
app.command("simulate")(simulate)
app.command("feedback-report")(feedback_report)
app.add_typer(db_app, name="db")
app.add_typer(valuesets_app, name="valuesets")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
