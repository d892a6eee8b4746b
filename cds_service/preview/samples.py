"""Sample findings: every rule's card rendered once per reason, with no fixture needed.

A rule puts data of its own in a reason (``reason.pain_weeks``, ``reason.orders``); a sample
finding carries a ``Sample`` for every field its templates read, which renders as text, counts as
a number, iterates as a one-item list and has any attribute. Typos in ``params``, ``facts``,
``orders`` or ``patient`` are found this way; the fields of a reason's own data are only checked
by the fixture renders.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from jinja2 import nodes

from cds_service.content.loader import CompiledRule, ContentSet
from cds_service.preview.simulate import RuleResult, render_result
from cds_service.content.templates import ENV
from cds_service.facts import DraftOrder, Fact
from cds_service.rules.base import ActionSpec, Finding, Reason, SuggestionSpec

SAMPLE_ORDER = "MRI cervical spine without contrast"
RESERVED = frozenset({"key", "indicator", "text"})  # reason entry keys the renderer sets itself


def template_attributes(sources: Iterable[str]) -> set[str]:
    """Every attribute or constant item name the templates read (``reason.pain_weeks`` → pain_weeks)."""
    names: set[str] = set()
    for source in sources:
        tree = ENV.parse(source)
        names.update(node.attr for node in tree.find_all(nodes.Getattr))
        names.update(
            node.arg.value for node in tree.find_all(nodes.Getitem) if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)
        )
    return names - RESERVED


def _sources(rule: CompiledRule) -> list[str]:
    c = rule.content
    return [
        c.summary,
        c.detail,
        *(r.text for r in c.reasons.values()),
        *(s.label for s in c.suggestions.values()),
        *(text for s in c.suggestions.values() for text in s.actions.values()),
    ]


class Sample:
    """Stands for any value a rule puts in a reason's data: text, number, list, or object with fields."""

    TEXT = "sample value"

    def __str__(self) -> str:
        return self.TEXT

    def __repr__(self) -> str:
        return "<sample>"

    def __getattr__(self, name: str) -> Sample:
        if name.startswith("_"):
            raise AttributeError(name)
        return Sample()

    def __getitem__(self, key: Any) -> Sample:
        return Sample()

    def __iter__(self) -> Any:
        return iter((Sample(),))

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True

    def __int__(self) -> int:
        return 12

    __index__ = __int__

    def __float__(self) -> float:
        return 12.0

    def __round__(self, ndigits: int | None = None) -> int:
        return 12

    def _number(self, *args: Any) -> Sample:
        return Sample()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _number
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __neg__ = _number

    def __lt__(self, other: Any) -> bool:
        return False

    __gt__ = __le__ = __ge__ = __lt__

    def __eq__(self, other: Any) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)


def sample_findings(rule: CompiledRule) -> list[Finding]:
    """One finding per reason, its data a ``Sample`` for every field the templates read, with every suggestion."""
    today = date.today()
    fact = Fact("pain", ("Condition/lint-sample",), "Cervicalgia", today - timedelta(days=30))
    order = DraftOrder("ServiceRequest/lint-sample", "ServiceRequest", SAMPLE_ORDER, frozenset(), True)
    action_data = {"order": SAMPLE_ORDER, "days": 7}
    suggestions = tuple(
        SuggestionSpec(key, tuple(ActionSpec(a, "delete", resource_id=order.ref, data=action_data) for a in spec.actions), i == 0)
        for i, (key, spec) in enumerate(rule.content.suggestions.items())
    )
    attributes = template_attributes(_sources(rule))
    return [
        Finding(rule.id, (order,), (Reason(key, (fact,), {name: Sample() for name in attributes}),), suggestions)
        for key in rule.content.reasons
    ]


def render_sample(content: ContentSet, finding: Finding) -> RuleResult:
    """The sample finding rendered (as for a patient aged 70)."""
    return render_result(content, finding, 70)


def fails_on_samples(content: ContentSet, rule_id: str) -> bool:
    """Whether the rule's card fails to render on sample data, for a reason other than a sample standing
    in for a real value: then its content is at fault, not the data of the request it failed on."""
    rule = content.rules.get(rule_id)
    if rule is None:
        return True
    results = (render_sample(content, sample) for sample in sample_findings(rule))
    return any(result.error is not None and not inconclusive(result) for result in results)


def inconclusive(result: RuleResult) -> bool:
    """A sample render that failed only because a sample cannot stand for the real value (a dict key)."""
    return result.error is not None and "<sample>" in result.error
