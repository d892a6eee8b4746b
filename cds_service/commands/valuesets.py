"""``cds-service valuesets import``: bring published ValueSets (VSAC exports) into the bundled value sets."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cds_service.settings import get_settings

if TYPE_CHECKING:
    from cds_service.content.loader import Problem
    from cds_service.terminology.canonical import CanonicalBase

valuesets_app = typer.Typer(help="Bundled value sets: import from VSAC.", no_args_is_help=True, add_completion=False)
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@valuesets_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="FHIR ValueSet JSON files (VSAC expansion or compose).", exists=True, dir_okay=False)],
    into: Annotated[Optional[str], typer.Option("--into", help="Merge into this existing value set id.")] = None,
    new_id: Annotated[Optional[str], typer.Option("--id", help="Create this new value set id (with --title).")] = None,
    title: Annotated[Optional[str], typer.Option(help="Title of a new value set.")] = None,
    description: Annotated[Optional[str], typer.Option(help="Description of a new value set.")] = None,
    select_display: Annotated[Optional[list[str]], typer.Option("--select-display", help="Keep members whose display matches (regex; repeatable).")] = None,
    exclude_display: Annotated[Optional[list[str]], typer.Option("--exclude-display", help="Drop members whose display matches (regex; repeatable).")] = None,
    select_code: Annotated[Optional[list[str]], typer.Option("--select-code", help="Keep members whose code matches from its start (regex; repeatable).")] = None,
    exclude_code: Annotated[Optional[list[str]], typer.Option("--exclude-code", help="Drop members whose code matches from its start (regex; repeatable).")] = None,
    code_file: Annotated[Optional[Path], typer.Option("--code-file", help="Keep only the codes listed in this file (one a line).", exists=True, dir_okay=False)] = None,
    names: Annotated[Optional[Path], typer.Option("--names", help="code<TAB>name file: names for selecting members that have no display.", exists=True, dir_okay=False)] = None,
    content_dir: Annotated[Optional[Path], typer.Option("--content-dir", help="Card content directory (default: bundled cards/).")] = None,
    on: Annotated[Optional[str], typer.Option("--date", help="Import date recorded (YYYY-MM-DD; default today).")] = None,
) -> None:
    """Import value sets: filter to known systems, select members, merge, record provenance, check the result."""
    from cds_service.content.loader import ContentError, read_canonical_base
    from cds_service.terminology.errors import TerminologyError
    from cds_service.terminology.importer import Selection, import_into, read_code_file, read_names, read_source, select

    if (into is None) == (new_id is None):
        raise typer.BadParameter("give either --into ID (merge) or --id ID --title TITLE (new)", param_hint="--into/--id")
    if new_id is not None and not title:
        raise typer.BadParameter("a new value set needs a title", param_hint="--title")
    if not _FHIR_ID.fullmatch(into or new_id or ""):
        raise typer.BadParameter("a value set id is 1-64 letters, digits, '-' or '.'", param_hint="--into/--id")
    try:
        today = date.fromisoformat(on) if on else date.today()
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--date") from None
    for hint, patterns in (("--select-display", select_display), ("--exclude-display", exclude_display),
                           ("--select-code", select_code), ("--exclude-code", exclude_code)):  # fmt: skip
        for pattern in patterns or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise typer.BadParameter(f"{pattern!r} is not a regular expression: {exc}", param_hint=hint) from None
    selection = Selection(
        tuple(select_display or ()), tuple(exclude_display or ()), tuple(select_code or ()), tuple(exclude_code or ()),
        read_code_file(code_file) if code_file else None, read_names(names) if names else {},
    )  # fmt: skip
    content = content_dir or get_settings().content_dir
    try:
        base = read_canonical_base(content)
    except ContentError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    try:
        sources = [select(read_source(path), selection) for path in files]
        result = import_into(
            content / "valuesets", into or new_id or "", sources, today, title=title if new_id else None, description=description, base=base,
        )  # fmt: skip
    except TerminologyError as exc:
        typer.echo(f"{exc.path}:{exc.line}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    for path, read, source in zip(files, sources, result.sources):
        dropped = ", ".join(f"{n} {system}" for system, n in sorted(read.dropped.items()))
        typer.echo(
            f"{path.name}: {source.canonical} ({source.origin}): {source.offered} codes of known systems, "
            f"{len(read.members)} selected, {source.codes} added{f'; dropped (unknown systems): {dropped}' if dropped else ''}"
        )
    if result.already:
        typer.echo(f"{result.already} selected codes were in the value set already")
    problems = write_checked(result.path, result.text, base)
    for problem in problems:
        typer.echo(f"{problem.file}:{problem.line}: {problem.severity}: {problem.message}", err=problem.severity == "error")
    if any(p.severity == "error" for p in problems):
        typer.echo(f"not written: the result is in {result.path.name}.rejected", err=True)
        raise typer.Exit(1)
    typer.echo(f"wrote {result.path}")


def write_checked(path: Path, text: str, base: CanonicalBase) -> list[Problem]:
    """Write ``text`` to ``path`` when it loads (its url under ``base``) and passes the value-set checks,
    else to ``path.rejected`` (which the loader ignores). The problems found name the file written."""
    import orjson

    from cds_service.content.lint_codes import check_valueset_file
    from cds_service.content.loader import Problem
    from cds_service.terminology.errors import TerminologyError
    from cds_service.terminology.valuesets import compile_valueset

    rejected = path.with_name(path.name + ".rejected")
    rejected.write_text(text, encoding="utf-8")
    try:
        compile_valueset(path, text, orjson.loads(text), base)
        problems, _ = check_valueset_file(rejected)
    except TerminologyError as exc:
        problems = [Problem(str(rejected), exc.line, exc.message)]
    if any(p.severity == "error" for p in problems):
        return problems
    rejected.replace(path)
    return [Problem(str(path), p.line, p.message, p.severity) for p in problems]
