"""The ``cds-service feedback-report`` and ``cds-service db upgrade`` commands.

Database libraries are imported when a command runs, so the CLI itself starts fast.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

DbOption = Annotated[
    Optional[str],
    typer.Option("--db", help="Database URL (default: CDS_FEEDBACK_DB_URL, else ./cds-feedback.sqlite3)."),
]
db_app = typer.Typer(help="The feedback database.", no_args_is_help=True)


def _url(db: str | None) -> str:
    if db is not None:
        return db
    from cds_service.settings import get_settings

    return get_settings().feedback_db_url


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _by(value: str) -> bool:
    if value != "version":
        raise typer.BadParameter("the report can be split only by 'version'")
    return True


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Create or migrate the feedback tables to the latest revision (the service also does this at start-up)."""
    from cds_service.feedback.migrate import current_revision
    from cds_service.feedback.store import FeedbackStore, safe_url

    store = FeedbackStore.open(_url(db))
    try:
        store.migrate()
        typer.echo(f"{safe_url(store.engine.url)} is at revision {current_revision(store.engine)}")
    finally:
        store.close()


def feedback_report(
    db: DbOption = None,
    csv_file: Annotated[
        Optional[Path], typer.Option("--csv", help="Write the report as CSV to FILE ('-': standard output, no table).")
    ] = None,
    since: Annotated[
        Optional[datetime],
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
            help="Only cards served from this date or time on (UTC unless an offset is given).",
        ),
    ] = None,
    by: Annotated[
        Optional[str],
        typer.Option("--by", metavar="version", help="'version': one row per rule and card version, to compare before and after a change."),
    ] = None,
) -> None:
    """Per rule: cards shown, accepted, overridden, override rate and the top override reasons; and the
    share of spine imaging orders that could be given an appropriateness rating."""
    from rich.console import Console

    from cds_service.feedback.migrate import current_revision, head_revision
    from cds_service.feedback.report import build_report, rating_share, rich_tables, write_csv
    from cds_service.feedback.store import FeedbackStore, database_url, safe_url

    by_version = _by(by) if by is not None else False
    url = _url(db)
    try:
        parsed = database_url(url)
    except Exception as exc:  # noqa: BLE001 - a bad URL is the user's to fix
        raise _fail(f"invalid database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        raise _fail(f"no feedback database at {parsed.database}")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    store = FeedbackStore.open(url)
    try:
        revision = current_revision(store.engine)
        if revision is None:
            raise _fail(f"{safe_url(parsed)} has no feedback tables: run `cds-service db upgrade --db URL` first")
        if revision != head_revision():
            expected = head_revision()
            typer.echo(f"note: the database is at revision {revision}, this version expects {expected}", err=True)
        rows = build_report(store.engine, since, by_version)
        share = rating_share(store.engine, since)
    finally:
        store.close()
    if csv_file is not None and str(csv_file) == "-":
        write_csv(rows, sys.stdout)
        return
    if csv_file is not None:
        with csv_file.open("w", newline="", encoding="utf-8") as out:
            write_csv(rows, out)
    title = "Card outcomes per rule" + (" and card version" if by_version else "") + (f" since {since.isoformat()}" if since else "")
    console = Console()
    for table in rich_tables(rows, title):
        console.print(table)
    console.print(str(share), markup=False)
    if csv_file is not None:
        typer.echo(f"CSV written to {csv_file}")
