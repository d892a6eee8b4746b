"""Findings → CDS Hooks cards, worded by the rule's content file.

The card's indicator is the worst of its reasons'; its detail ends with the shared footer that
lists the patient facts (with FHIR references) behind it, the rule id and the source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from jinja2 import Template

from cds_service.content.loader import CompiledRule, ContentSet
from cds_service.content.model import LinkContent, SourceContent
from cds_service.content.templates import UNCERTAIN_COUNTS, Markdown, StaticText, Wording, markdown_escape
from cds_service.facts import Fact
from cds_service.facts.model import AGE_UNKNOWN, ShownAge, all_facts
from cds_service.ids import random_uuid
from cds_service.protocol.models import INDICATOR_RANK, Action, Card, Coding, Link, Source, Suggestion
from cds_service.rules.base import Finding

log = logging.getLogger(__name__)
SUMMARY_MAX = 139
_SUGGESTION_VALUES = MappingProxyType({"order": None, "days": None})  # what a suggestion's wording sees besides the card's
CITED_MAX = 256  # cached citation parts per rule (base URLs × reason sets); past it the cache starts afresh


def render(template: Wording, values: dict[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    """``template.render({**values, **extra})``, with that dict itself as the template's context: no
    copy of it merged with Jinja's globals, which no card template can read (the loader rejects every
    name but the template's own, ``templates.CARD_NAMES`` and the like). A card renders about ten
    templates, so this is a good part of rendering time; static wording is its text, and no values
    are merged for it."""
    if type(template) is StaticText:
        return template.text
    if extra:
        values = {**values, **extra}
    template = cast(Template, template)
    env = template.environment
    context = env.context_class(env, values, template.name, template.blocks)  # Jinja never writes to it
    try:
        rendered: str = env.concat(template.root_render_func(context))
        return rendered
    except Exception:
        env.handle_exception()
        raise  # handle_exception always raises; for type checkers


def fact_line(content: ContentSet, fact: Fact) -> Markdown:
    """The fact's line in a card, as markdown (record text in it is escaped)."""
    template = content.fact_labels.get(fact.key)
    if template is None:
        return Markdown(markdown_escape(fact.display or fact.key))
    values = {
        "key": fact.key, "display": fact.display, "on": fact.on, "value": fact.value, "unit": fact.unit,
        "comparator": fact.comparator, "refs": fact.refs,
    }  # fmt: skip
    return Markdown(render(template, values).strip())


def card_context(
    content: ContentSet,
    rule: CompiledRule,
    finding: Finding,
    age: ShownAge,
    referral_on: str | None = None,
    lines: dict[Fact, Markdown] | None = None,
) -> dict[str, Any]:
    """What templates see: orders, reasons (with their rendered text), facts, params, and the
    title of the card that offers the response's PT referral when it is another card's. ``lines``
    keeps each fact's line for the other cards of the same response (most cite the pain)."""
    orders = [{"display": o.display, "ref": o.ref} for o in finding.orders]
    lines = {} if lines is None else lines
    facts = []
    for f in all_facts(r.facts for r in finding.reasons):
        label = lines.get(f)
        if label is None:
            label = lines[f] = fact_line(content, f)
        facts.append({"key": f.key, "label": label, "refs": list(f.refs), "display": f.display, "on": f.on, "value": f.value, "unit": f.unit})
    ctx: dict[str, Any] = {
        "rule": rule.id,
        "title": rule.content.title,
        "orders": orders,
        "order_list": ", ".join(o["display"] for o in orders),
        "facts": facts,
        "patient": {"age": age},
        "params": dict(rule.content.params),
        "referral_on": referral_on,
    }
    reasons = []
    for reason in finding.reasons:
        spec = rule.content.reasons[reason.key]
        entry = {"key": reason.key, "indicator": spec.indicator, **reason.data}
        extra = {"reasons": [], "reason": entry, "indicator": spec.indicator}
        entry["text"] = Markdown(render(rule.reasons[reason.key], ctx, extra).strip())
        reasons.append(entry)
    ctx["reasons"] = reasons
    ctx["reason"] = {r["key"]: r for r in reasons}
    ctx["indicator"] = max((r["indicator"] for r in reasons), key=INDICATOR_RANK.__getitem__)
    return ctx


_COUNTED = (("Condition/", "conditions"), ("Observation/", "observations"))  # every other entry is a medication


def uncertain_counts(uncertain: Iterable[Fact]) -> dict[str, int]:
    """What was not read or recognised (``UNCERTAIN_COUNTS``): distinct record entries per kind
    (conditions, observations, medications), and ``age`` 1 when the age could not be told."""
    counts = dict.fromkeys(UNCERTAIN_COUNTS, 0)
    if not uncertain:
        return counts
    refs: dict[str, None] = {}
    for f in uncertain:
        if f.key == AGE_UNKNOWN:
            counts["age"] = 1
        else:
            refs.update(dict.fromkeys(f.refs))
    for ref in refs:
        counts[next((kind for prefix, kind in _COUNTED if ref.startswith(prefix)), "medications")] += 1
    return counts


def render_card(
    content: ContentSet,
    finding: Finding,
    age: ShownAge,
    base_url: str,
    referral_on: str | None = None,
    uncertain: Mapping[str, int] | None = None,
    lines: dict[Fact, Markdown] | None = None,
    unavailable: Sequence[str] = (),
) -> Card:
    """The card of ``finding``; ``referral_on`` names the card that carries the response's one PT
    referral; ``uncertain`` (``uncertain_counts``) adds the layout's line saying what could not be
    read or recognised, when any count is not zero or a data key is ``unavailable`` (could not be
read: the rules that need it stay silent); ``lines`` is shared by the cards of one
    response (``card_context``)."""
    rule = content.rules[finding.rule_id]
    ctx = card_context(content, rule, finding, age, referral_on, lines)
    summary = " ".join(render(rule.summary, ctx).split())
    if len(summary) > SUMMARY_MAX:
        log.warning("summary truncated", extra={"rule_id": rule.id})
        summary = summary[: SUMMARY_MAX - 1].rstrip() + "…"
    parts = cited(content, rule, finding, base_url)
    footer = render(content.footer, {**ctx, "source": dict(parts.source_values)})
    detail = render(rule.detail, ctx).strip() + "\n\n"
    if (uncertain and any(uncertain.values())) or unavailable:
        counts = {**dict.fromkeys(UNCERTAIN_COUNTS, 0), **(uncertain or {})}
        detail += render(content.uncertain_note, {"counts": counts, "unavailable": list(unavailable)}).strip() + "\n\n"
    detail += footer.strip()
    suggestions = [_suggestion(rule, s, ctx) for s in finding.suggestions]
    return Card(
        uuid=random_uuid(),
        summary=summary,
        detail=detail,
        indicator=ctx["indicator"],
        source=parts.source,
        suggestions=suggestions or None,
        selection_behavior=rule.content.selection_behavior if suggestions else None,
        override_reasons=parts.override_reasons,
        links=parts.links,
    )


@dataclass(frozen=True)
class Cited:
    """The parts of a rule's card that its content, the base URL and the reasons present decide:
    validated once and shared by every such card, so nothing may change them."""

    source: Source
    source_values: Mapping[str, Any]  # the source as the footer template sees it
    override_reasons: list[Coding] | None
    links: list[Link] | None


def cited(content: ContentSet, rule: CompiledRule, finding: Finding, base_url: str) -> Cited:
    """The card's source (with its topic, the rule's code), override reasons and links, built on
    the first card of the rule with this base URL and these reasons, then taken from the rule."""
    key = (base_url, tuple([r.key for r in finding.reasons]))
    found: Cited | None = rule.cited.get(key)
    if found is None:
        if len(rule.cited) >= CITED_MAX:
            rule.cited.clear()
        topic_system = base_url + content.layout.rule_system_path
        override_system = base_url + content.layout.override_reason_system_path
        source, links = citations(rule, finding)
        found = rule.cited[key] = Cited(
            source=Source(
                label=source.label,
                url=source.url,
                icon=source.icon,
                topic=Coding(system=topic_system, code=rule.id, display=rule.content.title),
            ),
            source_values=source.model_dump(),
            override_reasons=[
                Coding(system=override_system, code=r.code, display=r.display) for r in rule.content.override_reasons
            ]
            or None,
            links=[Link(label=link.label, url=link.url, type=link.type) for link in links] or None,
        )
    return found


def citations(rule: CompiledRule, finding: Finding) -> tuple[SourceContent, list[LinkContent]]:
    """The card's source and links: a reason's own source backs its claim, so the first reason
    present that has one is the card's source (else the rule's); the rule's links, and the
    sources and links of the other reasons present, are the card's links (each URL once)."""
    reasons = [rule.content.reasons[r.key] for r in finding.reasons]
    own = [r.source for r in reasons if r.source is not None]
    source = own[0] if own else rule.content.source
    candidates = [*rule.content.links, *(LinkContent(label=s.label, url=s.url) for s in own[1:] if s.url)]
    candidates += [link for r in reasons for link in r.links]
    seen = {source.url}
    links = []
    for link in candidates:
        if link.url not in seen:
            seen.add(link.url)
            links.append(link)
    return source, links


def _suggestion(rule: CompiledRule, spec: Any, ctx: dict[str, Any]) -> Suggestion:
    actions = []
    for action in spec.actions:
        template = rule.actions.get((spec.key, action.key))
        description = action.key if template is None else render(template, ctx, {**_SUGGESTION_VALUES, **action.data}).strip()
        actions.append(
            Action(type=action.type, description=description, resource=action.resource, resource_id=action.resource_id)
        )
    label = render(rule.labels[spec.key], ctx, _SUGGESTION_VALUES).strip()
    recommended = True if spec.recommended else None
    return Suggestion(label=label, uuid=random_uuid(), is_recommended=recommended, actions=actions)
