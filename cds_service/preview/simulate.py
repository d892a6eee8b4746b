"""Run hook requests through the rules offline, and count the alert burden of a content set.

``evaluate_request`` answers the request with ``hooks.handler.handle_hook`` itself — the hook
routes' code path, with no FHIR server — rendering shadow-mode rules too, each card on its own so
one broken template does not hide the other cards; the cards come in the service's order. ``simulate`` does this for every
fixture request and ``burden`` counts cards per rule and indicator, for a look at a content
change before go-live.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.appropriateness import Rating
from cds_service.content.loader import ContentSet
from cds_service.content.outcome import Rendered
from cds_service.content.render import card_context, render_card
from cds_service.facts.model import ShownAge
from cds_service.fixtures import FIXTURES_DIR, REQUESTS, fixture_names, hook_request
from cds_service.hooks.handler import handle_hook
from cds_service.protocol.models import Card, CDSRequest
from cds_service.protocol.services import SERVICES, ServiceDeclaration
from cds_service.rules.base import Finding

PREVIEW_BASE_URL = "http://localhost"
INDICATORS = ("critical", "warning", "info")


@dataclass(frozen=True)
class RuleResult:
    """One rule's finding for a request, its mode, and its card (or why it could not be rendered)."""

    finding: Finding
    mode: str
    card: Card | None
    summary: str | None  # the rendered summary before any truncation
    error: str | None = None

    @property
    def rule_id(self) -> str:
        return self.finding.rule_id


@dataclass(frozen=True)
class Evaluation:
    hook: str
    age: ShownAge
    results: tuple[RuleResult, ...]
    unavailable: dict[str, str]
    failed: dict[str, str] = field(default_factory=dict)  # rule id -> the exception its rule raised
    ratings: tuple[Rating, ...] = ()  # spine imaging orders and their appropriateness ratings


def service_for(hook: str) -> ServiceDeclaration:
    for service in SERVICES:
        if service.hook == hook:
            return service
    raise ValueError(f"no service answers hook {hook!r}")


def full_summary(content: ContentSet, found: Finding, age: ShownAge, referral_on: str | None = None) -> str:
    """The finding's card summary as rendered before any truncation (lint checks its length)."""
    rule = content.rules[found.rule_id]
    return " ".join(rule.summary.render(card_context(content, rule, found, age, referral_on)).split())


def render_result(content: ContentSet, found: Finding, age: ShownAge) -> RuleResult:
    """The finding's card, or the error that stopped it; the summary is kept untruncated."""
    mode = content.rules[found.rule_id].content.mode
    try:
        summary = full_summary(content, found, age)
        card = render_card(content, found, age, PREVIEW_BASE_URL)
    except Exception as exc:  # a content tool reports template errors, it does not stop on them
        return RuleResult(found, mode, None, None, f"{type(exc).__name__}: {exc}")
    return RuleResult(found, mode, card, summary)


async def evaluate_body(content: ContentSet, body: dict[str, Any], today: date | None = None) -> Evaluation:
    """Every rule's result for one CDS Hooks request (prefetch only: no FHIR server is called),
    from the hook routes' own pipeline: shown cards in response order, then shadow, then broken."""
    request = CDSRequest.model_validate(body)
    outcome = await handle_hook(service_for(request.hook), request, content, None, 1.0, PREVIEW_BASE_URL, today, render_shadow=True)
    results = tuple(_result(content, r, outcome.age) for r in outcome.results)
    return Evaluation(request.hook, outcome.age, results, dict(outcome.unavailable), dict(outcome.errors), outcome.ratings)


def _result(content: ContentSet, rendered: Rendered, age: ShownAge) -> RuleResult:
    """The pipeline's card with its summary as rendered before any truncation (lint checks its length)."""
    if rendered.card is None:
        return RuleResult(rendered.finding, rendered.mode, None, None, rendered.error or "not rendered")
    summary = full_summary(content, rendered.finding, age, rendered.referral_on)
    return RuleResult(rendered.finding, rendered.mode, rendered.card, summary)


def evaluate_request(content: ContentSet, body: dict[str, Any], today: date | None = None) -> Evaluation:
    """``evaluate_body`` for synchronous callers (the command line)."""
    return asyncio.run(evaluate_body(content, body, today))


@dataclass(frozen=True)
class FixtureRun:
    name: str
    evaluation: Evaluation | None
    error: str | None = None


def simulate(content: ContentSet, root: Path = FIXTURES_DIR, today: date | None = None) -> list[FixtureRun]:
    """Every fixture request under ``root`` evaluated with ``content``."""

    async def run_all() -> list[FixtureRun]:
        runs = []
        for name in fixture_names(REQUESTS, root):
            try:
                body = hook_request(name, today, root=root)
                runs.append(FixtureRun(name, await evaluate_body(content, body, today)))
            except Exception as exc:  # one broken fixture is reported, the others still run
                runs.append(FixtureRun(name, None, f"{type(exc).__name__}: {exc}"))
        return runs

    return asyncio.run(run_all())


@dataclass(frozen=True)
class BurdenRow:
    """Cards one rule produced over the fixture requests, per indicator."""

    rule: str
    mode: str
    counts: dict[str, int]
    requests: int  # requests evaluated

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        """Cards per evaluated request."""
        return self.total / self.requests if self.requests else 0.0


def burden(content: ContentSet, runs: Sequence[FixtureRun]) -> list[BurdenRow]:
    """One row per rule with content (``off`` rules show zero), busiest first."""
    evaluated = [r.evaluation for r in runs if r.evaluation is not None]
    counts: dict[str, Counter[str]] = {rid: Counter() for rid in content.rules}
    for evaluation in evaluated:
        for result in evaluation.results:
            indicator = result.card.indicator if result.card is not None else _indicator(content, result.finding)
            counts[result.rule_id][indicator] += 1
    rows = [
        BurdenRow(rid, content.rules[rid].content.mode, {i: counts[rid][i] for i in INDICATORS}, len(evaluated))
        for rid in content.rules
    ]
    return sorted(rows, key=lambda row: (-row.total, row.rule))


def _indicator(content: ContentSet, found: Finding) -> str:
    reasons = content.rules[found.rule_id].content.reasons
    ranked = [reasons[r.key].indicator for r in found.reasons]
    return next((i for i in INDICATORS if i in ranked), "info")


CSV_FIELDS = ("rule", "mode", "critical", "warning", "info", "total", "requests", "cards_per_request")


def write_csv(rows: Iterable[BurdenRow], path: Path) -> None:
    with Path(path).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        for row in rows:
            writer.writerow(
                [row.rule, row.mode, *(row.counts[i] for i in INDICATORS), row.total, row.requests, f"{row.rate:.3f}"]
            )


CHART_INSTALL = "scripts/bootstrap tools (or: pip install 'cds-service[tools]')"


def chart_available() -> bool:
    """Whether ``write_chart`` can draw: matplotlib is a content-tool extra, not a service dependency."""
    return importlib.util.find_spec("matplotlib") is not None


CHART_COLOURS = {"critical": "#c62828", "warning": "#f9a825", "info": "#1565c0"}


def write_chart(rows: Sequence[BurdenRow], path: Path) -> None:
    """A horizontal stacked bar chart (PNG) of cards per rule and indicator; shadow rules marked."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the installation
        raise RuntimeError(f"the chart needs matplotlib: {CHART_INSTALL}") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    labels = [f"{row.rule} (shadow)" if row.mode == "shadow" else row.rule for row in rows]
    height = max(2.5, 0.45 * len(rows) + 1.5)
    fig, ax = plt.subplots(figsize=(9, height), dpi=100)
    try:
        left = [0] * len(rows)
        for indicator in INDICATORS:
            values = [row.counts[indicator] for row in rows]
            ax.barh(labels, values, left=left, color=CHART_COLOURS[indicator], label=indicator)
            left = [a + b for a, b in zip(left, values, strict=True)]
        for tick, row in zip(ax.get_yticklabels(), rows, strict=True):
            if row.mode == "shadow":
                tick.set_fontstyle("italic")
        requests = rows[0].requests if rows else 0
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"cards over {requests} fixture request(s)")
        ax.set_title("Alert burden per rule")
        ax.invert_yaxis()
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
