"""``cds-service export``: the content as FHIR R4, one PlanDefinition per rule and the ValueSets in a Bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cds_service.settings import get_settings


def export(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the Bundle to FILE (default: standard output).")] = None,
    directory: Annotated[Optional[Path], typer.Option("--content-dir", help="Content directory (default: CDS_CONTENT_DIR).")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="The service's public URL (default: CDS_PUBLIC_BASE_URL).")] = None,
) -> None:
    """Write the content as FHIR R4: a Bundle of one PlanDefinition per rule and the ValueSets, validated."""
    import json

    from cds_service.content.export import export_bundle, validate
    from cds_service.content.loader import ContentError, load_content

    settings = get_settings()
    try:
        content = load_content(directory or settings.content_dir)
    except ContentError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    base = (base_url or settings.public_base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    bundle = export_bundle(content, base)
    validate(bundle)
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"{len(bundle['entry'])} resources written to {out}")
