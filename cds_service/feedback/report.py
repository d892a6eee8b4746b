"""Per-rule card analytics: cards shown, accepted, overridden, override rate, top override reasons.

Each card counts once, by its latest feedback (by ``outcomeTimestamp``). The override rate is
overridden / (accepted + overridden): the share of cards acted on that were overridden; cards with
no feedback are reported beside it. Feedback for a card the store never saw (served by another
replica before a database reset) is reported under ``UNKNOWN_RULE``. ``since`` keeps the cards
served from that time on (and unknown cards' feedback given from then on).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine, and_, func, or_, select, true

from cds_service.feedback.schema import feedback, imaging_ratings, served_cards
from cds_service.pama import RATINGS, UNRATED

UNKNOWN_RULE = "(unknown card)"
TOP_REASONS = 3
CSV_COLUMNS = (
    "rule_id", "cards_shown", "accepted", "overridden", "no_feedback", "override_rate", "top_override_reasons",
)


@dataclass(frozen=True)
class ReasonCount:
    """An override reason and how many overridden cards gave it."""

    label: str
    code: str | None
    count: int

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code and self.code != self.label else ""
        return f"{self.label}{code} ({self.count})"


@dataclass(frozen=True)
class RuleStats:
    """The numbers of one rule (``UNKNOWN_RULE`` for feedback on cards the store never saw)."""

    rule_id: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    top_reasons: tuple[ReasonCount, ...] = field(default=())

    @property
    def no_feedback(self) -> int:
        return max(self.shown - self.accepted - self.overridden, 0)

    @property
    def override_rate(self) -> float | None:
        acted = self.accepted + self.overridden
        return self.overridden / acted if acted else None


def row_key(rule_id: str | None, version: str | None, by_version: bool) -> str:
    """The report row of a card: its rule, or with ``by_version`` its rule and card version."""
    if rule_id is None:
        return UNKNOWN_RULE
    return f"{rule_id} v{version or '?'}" if by_version else rule_id


def build_report(engine: Engine, since: datetime | None = None, by_version: bool = False) -> list[RuleStats]:
    """The per-rule numbers (per rule and card version with ``by_version``: before and after a
    content change side by side, "v?" for cards served before versions were recorded), most shown
    first, the unknown-card row last."""
    shown = _shown(engine, since, by_version)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, Counter[tuple[str | None, str | None]]] = defaultdict(Counter)  # (system, code)
    labels: dict[tuple[str | None, str | None], str] = {}
    for rule_id, version, outcome, system, code, display, count in _latest_outcomes(engine, since):
        rule = row_key(rule_id, version, by_version)
        outcomes[rule][outcome] += count
        if outcome == "overridden":
            key = (system, code) if code else (None, None)  # reasons are told apart by code, not wording
            reasons[rule][key] += count
            labels.setdefault(key, (display or code) if code else "(no reason code)")
    rows = [
        RuleStats(
            rule_id=rule,
            shown=shown.get(rule, 0),
            accepted=outcomes[rule]["accepted"],
            overridden=outcomes[rule]["overridden"],
            top_reasons=tuple(
                ReasonCount(labels[key], key[1], n)
                for key, n in sorted(reasons[rule].items(), key=lambda kv: (-kv[1], labels[kv[0]]))[:TOP_REASONS]
            ),
        )
        for rule in set(shown) | set(outcomes)
    ]
    if by_version:  # a rule's versions together, oldest first
        return sorted(rows, key=lambda r: (r.rule_id == UNKNOWN_RULE, r.rule_id))
    return sorted(rows, key=lambda r: (r.rule_id == UNKNOWN_RULE, -r.shown, r.rule_id))


def _shown(engine: Engine, since: datetime | None, by_version: bool) -> dict[str, int]:
    card = served_cards.c
    query = select(card.rule_id, card.card_version, func.count()).group_by(card.rule_id, card.card_version)
    if since is not None:
        query = query.where(card.served_at >= since)
    shown: Counter[str] = Counter()
    with engine.connect() as conn:
        for rule_id, version, count in conn.execute(query):
            shown[row_key(rule_id, version, by_version)] += count
    return dict(shown)


def _latest_outcomes(
    engine: Engine, since: datetime | None
) -> list[tuple[str | None, str | None, str, str | None, str | None, str | None, int]]:
    """(rule id, card version, outcome, reason system, code, display, cards) over each card's latest feedback."""
    ranked = select(
        feedback.c.card_uuid,
        feedback.c.outcome,
        feedback.c.outcome_at,
        feedback.c.override_system,
        feedback.c.override_code,
        feedback.c.override_display,
        func.row_number()
        .over(partition_by=feedback.c.card_uuid, order_by=(feedback.c.outcome_at.desc(), feedback.c.id.desc()))
        .label("rank"),
    ).subquery()
    card = served_cards.c
    reason = (ranked.c.override_system, ranked.c.override_code, ranked.c.override_display)
    columns = (card.rule_id, card.card_version, ranked.c.outcome, *reason)
    window = (
        or_(card.served_at >= since, and_(card.card_uuid.is_(None), ranked.c.outcome_at >= since))
        if since is not None
        else true()
    )
    query = (
        select(*columns, func.count())
        .select_from(ranked.outerjoin(served_cards, card.card_uuid == ranked.c.card_uuid))
        .where(ranked.c.rank == 1, window)
        .group_by(*columns)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


@dataclass(frozen=True)
class RatingShare:
    """Spine imaging orders evaluated, by appropriateness rating (``UNRATED``: could not be rated)."""

    counts: dict[str, int]

    @property
    def orders(self) -> int:
        return sum(self.counts.values())

    @property
    def rated_share(self) -> float | None:
        return (self.orders - self.counts.get(UNRATED, 0)) / self.orders if self.orders else None

    def __str__(self) -> str:
        parts = ", ".join(f"{name} {self.counts.get(name, 0)}" for name in (*RATINGS, UNRATED))
        return f"Spine imaging orders: {self.orders}, rated {format_rate(self.rated_share) or '-'} ({parts})"


def rating_share(engine: Engine, since: datetime | None = None) -> RatingShare:
    """How many spine imaging orders got each rating (orders rated from ``since`` on)."""
    query = select(imaging_ratings.c.rating, func.count()).group_by(imaging_ratings.c.rating)
    if since is not None:
        query = query.where(imaging_ratings.c.rated_at >= since)
    with engine.connect() as conn:
        return RatingShare({rating: count for rating, count in conn.execute(query)})


def format_rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.1%}"


def write_csv(rows: list[RuleStats], out: IO[str]) -> None:
    """The report as CSV (override_rate as a fraction with 4 decimals; empty when nothing was acted on)."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        rate = "" if r.override_rate is None else f"{r.override_rate:.4f}"
        reasons = "; ".join(str(reason) for reason in r.top_reasons)
        writer.writerow((r.rule_id, r.shown, r.accepted, r.overridden, r.no_feedback, rate, reasons))


def rich_tables(rows: list[RuleStats], title: str) -> list[Table]:
    """The report as rich tables: the numbers per rule (with a total row), then the top override reasons."""
    numbers = Table(title=title)
    numbers.add_column("rule", no_wrap=True)
    for name in ("shown", "accepted", "overridden", "no feedback", "override rate"):
        numbers.add_column(name, justify="right")
    for r in rows:
        numbers.add_row(
            escape(r.rule_id), str(r.shown), str(r.accepted), str(r.overridden), str(r.no_feedback),
            format_rate(r.override_rate),
        )
    total = RuleStats(
        "all rules",
        shown=sum(r.shown for r in rows),
        accepted=sum(r.accepted for r in rows),
        overridden=sum(r.overridden for r in rows),
    )
    numbers.add_section()
    numbers.add_row(
        total.rule_id, str(total.shown), str(total.accepted), str(total.overridden),
        str(sum(r.no_feedback for r in rows)), format_rate(total.override_rate),
    )
    reasons = Table(title=f"Top {TOP_REASONS} override reasons per rule")
    reasons.add_column("rule", no_wrap=True)
    reasons.add_column("reason")
    reasons.add_column("code")
    reasons.add_column("cards", justify="right")
    for r in rows:
        for n, reason in enumerate(r.top_reasons):
            rule = escape(r.rule_id) if n == 0 else ""
            reasons.add_row(rule, escape(reason.label), escape(reason.code or ""), str(reason.count))
    return [numbers, reasons] if reasons.row_count else [numbers]
