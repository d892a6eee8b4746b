"""Card rendering: the parts of a card built once per rule are what building them anew gives, and
follow the content set and base URL they were built for."""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_service.content.loader import CompiledRule, ContentSet, load_content
from cds_service.content.render import card_context, citations, cited, render, render_card
from cds_service.content.templates import ENV, PLAIN_ENV, Markdown, StaticText, compile_wording
from cds_service.preview.samples import inconclusive, render_sample, sample_findings
from cds_service.preview.simulate import PREVIEW_BASE_URL
from cds_service.protocol.models import Card, Coding, Link, Source
from cds_service.rules.base import Finding, Reason
from tests.unit.content_support import cards, edit
from tests.unit.rules_support import BASE_URL, content, pain

__all__ = ["cards"]  # the fixture
OTHER_BASE_URL = "http://127.0.0.1:8000/cds"


def built_anew(content: ContentSet, finding: Finding, card: Card, base_url: str) -> Card:
    """``card`` with its source, override reasons and links built field by field from the content."""
    rule = content.rules[finding.rule_id]
    source, links = citations(rule, finding)
    override_system = base_url + content.layout.override_reason_system_path
    return Card(
        uuid=card.uuid,
        summary=card.summary,
        detail=card.detail,
        indicator=card.indicator,
        source=Source(
            label=source.label,
            url=source.url,
            icon=source.icon,
            topic=Coding(system=base_url + content.layout.rule_system_path, code=rule.id, display=rule.content.title),
        ),
        suggestions=card.suggestions,
        selection_behavior=card.selection_behavior,
        override_reasons=[Coding(system=override_system, code=r.code, display=r.display) for r in rule.content.override_reasons]
        or None,
        links=[Link(label=link.label, url=link.url, type=link.type) for link in links] or None,
    )


def reason_sets(rule: CompiledRule) -> list[tuple[str, ...]]:
    """Each reason alone, and every order of up to three of them."""
    keys = list(rule.content.reasons)
    return [(k,) for k in keys] + [p for n in (2, 3) for p in permutations(keys[:3], n)]


@pytest.mark.parametrize("rule_id", sorted(content().rules))
def test_cited_parts_are_the_parts_built_anew(rule_id: str) -> None:
    """For every set of reasons and two base URLs, the shared citation parts serialise exactly as the parts built anew."""
    rule = content().rules[rule_id]
    for keys in reason_sets(rule):
        finding = Finding(rule_id, (), tuple(Reason(k) for k in keys))
        for base_url in (BASE_URL, OTHER_BASE_URL):
            for _ in range(2):  # built, then taken from the rule
                parts = cited(content(), rule, finding, base_url)
                card = Card(summary="s", indicator="info", source=parts.source, override_reasons=parts.override_reasons, links=parts.links)
                expected = built_anew(content(), finding, card, base_url)
                assert orjson.dumps(card.to_wire()) == orjson.dumps(expected.to_wire())
                assert parts.source_values == citations(rule, finding)[0].model_dump()


@pytest.mark.parametrize("rule_id", sorted(content().rules))
def test_rendered_cards_are_the_cards_built_anew(rule_id: str) -> None:
    """Every rule's sample card serialises exactly as the same card with its citation parts built anew."""
    for finding in sample_findings(content().rules[rule_id]):
        result = render_sample(content(), finding)
        if inconclusive(result):
            continue
        assert result.card is not None, result.error
        expected = built_anew(content(), finding, result.card, PREVIEW_BASE_URL)
        assert orjson.dumps(result.card.to_wire()) == orjson.dumps(expected.to_wire())


def test_a_reloaded_content_set_cites_its_own_source(cards: Path) -> None:
    """A card of reloaded content carries the edited source and override reason, while the earlier set keeps its own."""
    finding = Finding("physical-therapy-first", (), (Reason("default", (pain(30),)),))
    first = load_content(cards)
    before = render_card(first, finding, 50, BASE_URL)
    edit(cards / "physical-therapy-first.yaml", "(Blanpied et al., JOSPT 2017)", "(Blanpied 2017, edited)")
    edit(cards / "physical-therapy-first.yaml", "Physical therapy arranged elsewhere", "PT arranged elsewhere")
    second = load_content(cards)
    after = render_card(second, finding, 50, BASE_URL)
    assert before.source.label.endswith("(Blanpied et al., JOSPT 2017)")
    assert after.source.label.endswith("(Blanpied 2017, edited)")
    assert after.override_reasons and after.override_reasons[0].display == "PT arranged elsewhere"
    assert render_card(first, finding, 50, BASE_URL).source.label == before.source.label


def test_each_base_url_gets_its_own_systems() -> None:
    """The same card under two base URLs names each URL in its topic and override reason systems."""
    finding = Finding("physical-therapy-first", (), (Reason("default", (pain(30),)),))
    for base_url in (BASE_URL, OTHER_BASE_URL, BASE_URL):
        card = render_card(content(), finding, 50, base_url)
        assert card.source.topic and card.source.topic.system == base_url + "/rules"
        assert card.override_reasons and {c.system for c in card.override_reasons} == {base_url + "/override-reasons"}


def test_a_fact_line_is_taken_from_the_responses_lines() -> None:
    """A fact whose line another card of the response rendered is shown with that line; a new one is added to them."""
    rule = content().rules["physical-therapy-first"]
    fact = pain(30)
    finding = Finding(rule.id, (), (Reason("default", (fact,)),))
    lines: dict = {}
    card_context(content(), rule, finding, 50, lines=lines)
    assert lines[fact].startswith("Neck/upper-back pain")
    lines[fact] = Markdown("the line already rendered")
    ctx = card_context(content(), rule, finding, 50, lines=lines)
    assert [f["label"] for f in ctx["facts"]] == ["the line already rendered"]


def test_render_leaves_its_values_unchanged() -> None:
    """A template that sets a variable renders it without writing to the values it was given."""
    values = {"x": "given"}
    assert render(compile_wording("{% set x = 'set' %}{{ x }}"), values) == "set"
    assert values == {"x": "given"}


def as_templates(rule: CompiledRule) -> CompiledRule:
    """``rule`` with each reason text, suggestion label and action description compiled as a Jinja template, static or not."""
    card = rule.content
    return replace(
        rule,
        reasons={k: ENV.from_string(r.text) for k, r in card.reasons.items()},
        labels={k: PLAIN_ENV.from_string(s.label) for k, s in card.suggestions.items()},
        actions={(k, a): PLAIN_ENV.from_string(text) for k, s in card.suggestions.items() for a, text in s.actions.items()},
    )


def without_ids(card: Card) -> dict[str, Any]:
    """The card's JSON without its random ids (the card's and its suggestions')."""
    wire = card.to_wire()
    del wire["uuid"]
    for suggestion in wire.get("suggestions", ()):
        del suggestion["uuid"]
    return wire


@pytest.mark.parametrize("rule_id", sorted(content().rules))
def test_static_wording_renders_as_its_template(rule_id: str) -> None:
    """Every rule's sample card is the same whether its static reason, label and action wording is taken as text or rendered by Jinja."""
    static = [w for r in content().rules.values() for w in (*r.reasons.values(), *r.labels.values(), *r.actions.values()) if type(w) is StaticText]
    assert static  # the bundled content has static wording for the test to compare
    rule = content().rules[rule_id]
    templated = replace(content(), rules={**content().rules, rule_id: as_templates(rule)})
    for finding in sample_findings(rule):
        result, expected = render_sample(content(), finding), render_sample(templated, finding)
        if inconclusive(result):
            continue
        assert result.card is not None and expected.card is not None, result.error
        assert without_ids(result.card) == without_ids(expected.card)
