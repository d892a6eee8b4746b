"""The content tools of the ``cds-service`` command: lint-cards, preview and simulate."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cds_service.settings import get_settings

if TYPE_CHECKING:
    from cds_service.content.loader import ContentSet

FormatOption = Annotated[str, typer.Option("--format", help="text (for people) or json (for machines).")]
FixturesOption = Annotated[Optional[Path], typer.Option("--fixtures", help="Fixture directory (default: bundled fhir_fixtures/).")]
ContentOption = Annotated[Optional[Path], typer.Option("--content-dir", help="Card content directory (default: bundled cards/).")]


def _format(value: str) -> str:
    if value not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--format")
    return value


def _shown(path: str | Path) -> str:
    """A path relative to the working directory when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _quiet_render_log() -> None:
    # render_card logs each truncated summary; the content tools report it themselves.
    logging.getLogger("cds_service.content.render").setLevel(logging.ERROR)


def _load(directory: Optional[Path]) -> ContentSet:
    from cds_service.content.loader import ContentError, load_content

    try:
        return load_content(directory or get_settings().content_dir)
    except ContentError as exc:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        for problem in exc.problems:
            console.print(Text.assemble((f"{_shown(problem.file)}:{problem.line}: ", "bold"), (problem.message, "red")))
        console.print("the content does not load: run `cds-service lint-cards`", style="red")
        raise typer.Exit(2) from None


def lint_cards(
    directory: Annotated[Optional[Path], typer.Argument(help="Content directory (default: bundled cards/).")] = None,
    fixtures: FixturesOption = None,
    output: FormatOption = "text",
) -> None:
    """Check card content: schema, templates, rendered cards for every fixture request, value-set codes."""
    from cds_service.preview.lint import lint_content

    _format(output)
    _quiet_render_log()
    report = lint_content(directory or get_settings().content_dir, fixtures or get_settings().fixtures_dir)
    if output == "json":
        _json(report.as_json())
    else:
        console = Console(highlight=False, soft_wrap=True)
        for issue in report.issues:
            colour = "red" if issue.severity == "error" else "yellow"
            console.print(
                Text.assemble((f"{_shown(issue.file)}:{issue.line}: ", "bold"), (f"{issue.severity}: ", colour), issue.message)
            )
        c = report.counts
        summary = (
            f"{c['rules']} rules, {c['requests']} fixture requests ({c['cards']} cards), "
            f"{c['samples']} sample renders, {c['codes']} value-set codes checked: "
            f"{len(report.errors)} error(s), {len(report.issues) - len(report.errors)} warning(s)"
        )
        console.print(summary, style="bold green" if report.ok else "bold red")
    if not report.ok:
        raise typer.Exit(1)


def preview(
    patient: Annotated[Optional[str], typer.Option(help="Fixture patient name (default: the fixture request's).")] = None,
    order: Annotated[
        Optional[list[str]],
        typer.Option(help="A code (72141, 828320, cpt|72141), an order/request JSON file, or a fixture request name. Repeatable."),
    ] = None,
    hook: Annotated[Optional[str], typer.Option(help="order-sign or order-select (default: the request's, else order-sign).")] = None,
    content_dir: ContentOption = None,
    fixtures: FixturesOption = None,
    output: FormatOption = "text",
) -> None:
    """Show the cards a fixture patient's orders produce, as the EHR would."""
    from cds_service.preview.terminal import as_json, print_preview
    from cds_service.preview.simulate import evaluate_request
    from cds_service.fixtures import REQUESTS, fixture_names
    from cds_service.preview.drafts import OrderError, assemble

    _format(output)
    _quiet_render_log()
    content = _load(content_dir)
    root = fixtures or get_settings().fixtures_dir
    names = set(fixture_names(REQUESTS, root))
    requests, files, codes = [], [], []
    for item in order or []:
        if Path(item).is_file():
            files.append(Path(item))
        elif item in names:
            requests.append(item)
        else:
            codes.append(item)
    try:
        built = assemble(content, patient=patient, requests=requests, files=files, codes=codes, hook=hook, root=root)
    except OrderError as exc:
        raise typer.BadParameter(str(exc)) from None
    evaluation = evaluate_request(content, built.request)
    if output == "json":
        _json(as_json(built, evaluation))
    else:
        print_preview(Console(), built, evaluation)


def simulate(
    fixtures_dir: Annotated[Optional[Path], typer.Argument(help="Fixture directory (default: bundled fhir_fixtures/).")] = None,
    content_dir: ContentOption = None,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Also write the table as CSV.")] = None,
    chart: Annotated[Optional[Path], typer.Option("--chart", help="Also write a PNG bar chart.")] = None,
) -> None:
    """Run every fixture request through the rules and report alert burden per rule and indicator."""
    from cds_service.preview import simulate as sim

    if chart is not None and not sim.chart_available():
        typer.echo(f"--chart needs matplotlib, which the service itself does not install: {sim.CHART_INSTALL}", err=True)
        raise typer.Exit(2)
    _quiet_render_log()
    content = _load(content_dir)
    runs = sim.simulate(content, fixtures_dir or get_settings().fixtures_dir)
    rows = sim.burden(content, runs)
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a file or pipe: keep rule names whole
    for run in runs:
        if run.error is not None:
            console.print(Text(f"{run.name}: not evaluated: {run.error}", style="red"))
        elif run.evaluation is not None:
            for result in run.evaluation.results:
                if result.error is not None:
                    console.print(Text(f"{run.name}: {result.rule_id}: card not rendered: {result.error}", style="red"))
    evaluated = sum(1 for r in runs if r.evaluation is not None)
    table = Table(title=f"Alert burden over {evaluated} fixture request(s)", title_justify="left")
    table.add_column("rule", no_wrap=True, min_width=max((len(r.rule) for r in rows), default=4))
    table.add_column("mode", no_wrap=True)
    for indicator, colour in (("critical", "red"), ("warning", "yellow"), ("info", "blue")):
        table.add_column(indicator, justify="right", style=colour)
    table.add_column("total", justify="right", style="bold")
    table.add_column("cards/request", justify="right")
    for row in rows:
        mode = Text("shadow", style="magenta") if row.mode == "shadow" else Text(row.mode, style="dim" if row.mode == "off" else "")
        table.add_row(row.rule, mode, *(str(row.counts[i]) for i in sim.INDICATORS), str(row.total), f"{row.rate:.2f}")
    console.print(table)
    console.print("Shadow rules are evaluated but never shown to clinicians.", style="dim")
    if csv is not None:
        sim.write_csv(rows, csv)
        console.print(f"CSV written to {csv}")
    if chart is not None:
        sim.write_chart(rows, chart)
        console.print(f"chart written to {chart}")
    if any(r.error is not None for r in runs):
        raise typer.Exit(1)
