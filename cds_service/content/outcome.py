"""What one hook call produced, and the one way findings become cards.

``render_findings`` is the single rendering step of every path that shows cards — the hook routes,
the preview page, ``cds-service preview`` and ``simulate``, lint — so what an informaticist sees is
what the EHR gets: one PT referral per response, the "could not be read" line, a broken card
contained, cards ordered most severe first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cds_service.content.loader import ContentSet
from cds_service.content.referral import single_referral
from cds_service.content.render import render_card, uncertain_counts
from cds_service.content.templates import Markdown
from cds_service.facts import Fact
from cds_service.facts.model import DATA_KEYS, PatientFacts, ShownAge
from cds_service.protocol.models import INDICATOR_RANK, Card, CDSResponse
from cds_service.rules.base import Finding
from cds_service.rules.engine import Withheld

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """One finding's card (None when it could not be rendered: ``error`` says why), its rule's mode,
    and the card that carries the response's PT referral (``referral_on``)."""

    finding: Finding
    mode: str
    card: Card | None
    error: str | None = None
    referral_on: str | None = None

    @property
    def rule_id(self) -> str:
        return self.finding.rule_id


def render_findings(
    content: ContentSet, findings: Sequence[Finding], facts: PatientFacts, base_url: str, render_shadow: bool = False
) -> list[Rendered]:
    """Every finding rendered as the service sends it: shown cards most severe first, then shadow
    findings (rendered only with ``render_shadow``), then the findings whose card failed to render
    (logged). A broken card costs that card alone."""
    counts = uncertain_counts(facts.uncertain) if findings else {}  # said on every card shown
    unavailable = [key for key in DATA_KEYS if key not in facts.available] if findings else []
    lines: dict[Fact, Markdown] = {}  # each fact's line, rendered once for every card citing it
    shown: list[Rendered] = []
    shadow: list[Rendered] = []
    broken: list[Rendered] = []
    for found, referral_on in single_referral(content, findings):
        mode = content.rules[found.rule_id].content.mode
        if mode == "shadow" and not render_shadow:
            shadow.append(Rendered(found, mode, None, None, referral_on))
            continue
        try:
            card = render_card(content, found, facts.age.shown, base_url, referral_on, counts, lines, unavailable)
        except Exception as exc:
            log.error("card render failed", extra={"rule_id": found.rule_id, "error_type": type(exc).__name__})
            broken.append(Rendered(found, mode, None, f"{type(exc).__name__}: {exc}", referral_on))
            continue
        (shadow if mode == "shadow" else shown).append(Rendered(found, mode, card, None, referral_on))
    if len(shown) > 1:
        shown.sort(key=lambda r: -INDICATOR_RANK[r.card.indicator] if r.card else 0)  # critical, warning, info
    return shown + shadow + broken


@dataclass(frozen=True)
class Outcome:
    """What a call produced: the response, and every finding (shadow ones included) for metrics."""

    response: CDSResponse
    shown: list[tuple[Finding, Card]]
    shadow: list[Finding]
    unavailable: dict[str, str]
    fetched: tuple[str, ...] = ()
    withheld: tuple[Withheld, ...] = ()  # reassuring findings withheld: (rule id, reason)
    results: tuple[Rendered, ...] = ()  # every finding in response order, shadow and broken last
    age: ShownAge = None  # as cards show it (``AgeRange.shown``)
    errors: Mapping[str, str] = field(default_factory=dict)  # rule id -> why its rule raised
    ratings: tuple[Any, ...] = ()  # appropriateness.Rating: spine imaging orders and their ratings
    repeats: tuple[str, ...] = ()  # rule ids of cards not shown again (unchanged order, shown before)
    card_versions: Mapping[str, str | None] = field(default_factory=dict)  # rule id -> its card file's version

    @property
    def unrendered(self) -> tuple[str, ...]:
        """Rule ids whose card could not be rendered."""
        return tuple(r.rule_id for r in self.results if r.error is not None)

    @property
    def failed(self) -> tuple[str, ...]:
        """Rule ids whose rule raised (``errors``) or whose card could not be rendered."""
        return (*self.errors, *self.unrendered)
