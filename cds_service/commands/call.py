"""``cds-service call``: a fixture request, with the prefetch an EHR would send, posted to a running service."""

from __future__ import annotations

import sys
from typing import Annotated

import httpx
import orjson
import typer

from cds_service.fixtures import REQUESTS, fixture_names, hook_request
from cds_service.protocol.services import SERVICES


def call(
    fixture: Annotated[str, typer.Argument(help="A fixture request name, e.g. v2-order-select.")],
    url: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:8000",
    request_only: Annotated[bool, typer.Option("--request-only", help="Print the request JSON and post nothing.")] = False,
    output: Annotated[str, typer.Option("--format", help="text (a line per card) or json (the response).")] = "text",
) -> None:
    """Post a fixture hook request (prefetch built from its patient, dates made current) and print the cards."""
    from cds_service.settings import get_settings

    root = get_settings().fixtures_dir
    names = fixture_names(REQUESTS, root)
    if fixture not in names:
        typer.echo(f"no fixture request {fixture!r}; there are: {', '.join(names)}", err=True)
        raise typer.Exit(2)
    body = hook_request(fixture, root=root)
    if request_only:
        sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    service = next(s for s in SERVICES if s.hook == body["hook"])
    endpoint = f"{url.rstrip('/')}/cds-services/{service.id}"
    try:
        response = httpx.post(endpoint, json=body, timeout=30)
    except httpx.HTTPError as exc:
        typer.echo(f"{endpoint}: {type(exc).__name__}: {exc} (is the service running? ./scripts/serve)", err=True)
        raise typer.Exit(1) from None
    if response.status_code != 200 or output == "json":
        sys.stdout.write(response.text + "\n")
        raise typer.Exit(0 if response.status_code == 200 else 1)
    cards = response.json().get("cards") or []
    typer.echo(f"POST {endpoint} → {len(cards)} card(s)")
    for card in cards:
        typer.echo(f"  {card['indicator']:<8} {card['source']['topic']['code']:<28} {card['summary']}")
