"""Findings → CDS Hooks cards, worded by the rule's content file.

The card's indicator is the worst of its reasons'; its detail ends with the shared footer that
lists the patient facts (with FHIR references) behind it, the rule id and the source.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

from jinja2 import Template

from cds_service.content.loader import CompiledRule, ContentSet
from cds_service.content.model import LinkContent, SourceContent
from cds_service.content.templates import Markdown, StaticText, Wording, markdown_escape
from cds_service.facts import Fact
from cds_service.facts.model import all_facts
from cds_service.protocol.models import INDICATOR_RANK, Action, Card, Coding, Link, Source, Suggestion
from cds_service.rules.base import Finding

log = logging.getLogger(__name__)
SUMMARY_MAX = 139


@functools.lru_cache(maxsize=1024)
def _globals(template: Template) -> dict[str, Any]:
    """A template's globals as one plain dict (``Template.globals`` is a ChainMap, slow to copy)."""
    return dict(template.globals)


def render(template: Wording, values: dict[str, Any]) -> str:
    """``template.render(values)``, without copying the globals' ChainMap twice per call: the
    context is built from the same globals and values, once flattened. A card renders about ten
    templates, so this is a good part of rendering time; static wording is its text."""
    if type(template) is StaticText:
        return template.text
    template = cast(Template, template)
    flat = _globals(template)
    env = template.environment
    context = env.context_class(env, {**flat, **values}, template.name, template.blocks, globals=flat)
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
    values = {"key": fact.key, "display": fact.display, "on": fact.on, "value": fact.value, "unit": fact.unit, "refs": fact.refs}
    return Markdown(render(template, values).strip())


def card_context(
    content: ContentSet, rule: CompiledRule, finding: Finding, age: int | None, referral_on: str | None = None
) -> dict[str, Any]:
    """What templates see: orders, reasons (with their rendered text), facts, params, and the
    title of the card that offers the response's PT referral when it is another card's."""
    orders = [{"display": o.display, "ref": o.ref} for o in finding.orders]
    facts = [
        {"key": f.key, "label": fact_line(content, f), "refs": list(f.refs), "display": f.display, "on": f.on, "value": f.value, "unit": f.unit}
        for f in all_facts(r.facts for r in finding.reasons)
    ]
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
        entry["text"] = Markdown(render(rule.reasons[reason.key], {**ctx, "reasons": [], "reason": entry, "indicator": spec.indicator}).strip())
        reasons.append(entry)
    ctx["reasons"] = reasons
    ctx["reason"] = {r["key"]: r for r in reasons}
    ctx["indicator"] = max((r["indicator"] for r in reasons), key=INDICATOR_RANK.__getitem__)
    return ctx


def uncertain_counts(uncertain: Iterable[Fact]) -> dict[str, int]:
    """How many distinct record entries were not read or recognised, per kind (conditions, medications)."""
    refs = dict.fromkeys(ref for f in uncertain for ref in f.refs)
    conditions = sum(1 for ref in refs if ref.startswith("Condition/"))
    return {"conditions": conditions, "medications": len(refs) - conditions}


def render_card(
    content: ContentSet,
    finding: Finding,
    age: int | None,
    base_url: str,
    referral_on: str | None = None,
    uncertain: Mapping[str, int] | None = None,
) -> Card:
    """The card of ``finding``; ``referral_on`` names the card that carries the response's one PT
    referral; ``uncertain`` (``uncertain_counts``) adds the layout's line saying what could not be
    read or recognised, when any count is not zero."""
    rule = content.rules[finding.rule_id]
    ctx = card_context(content, rule, finding, age, referral_on)
    summary = " ".join(render(rule.summary, ctx).split())
    if len(summary) > SUMMARY_MAX:
        log.warning("summary truncated", extra={"rule_id": rule.id})
        summary = summary[: SUMMARY_MAX - 1].rstrip() + "…"
    source, links = citations(rule, finding)
    footer = render(content.footer, {**ctx, "source": source.model_dump()})
    detail = render(rule.detail, ctx).strip() + "\n\n"
    if uncertain and any(uncertain.values()):
        detail += render(content.uncertain_note, {"counts": dict(uncertain)}).strip() + "\n\n"
    detail += footer.strip()
    suggestions = [_suggestion(rule, s, ctx) for s in finding.suggestions]
    override_system = base_url + content.layout.override_reason_system_path
    return Card(
        uuid=str(uuid.uuid4()),
        summary=summary,
        detail=detail,
        indicator=ctx["indicator"],
        source=Source(
            label=source.label,
            url=source.url,
            icon=source.icon,
            topic=Coding(system=base_url + content.layout.rule_system_path, code=rule.id, display=rule.content.title),
        ),
        suggestions=suggestions or None,
        selection_behavior=rule.content.selection_behavior if suggestions else None,
        override_reasons=[
            Coding(system=override_system, code=r.code, display=r.display) for r in rule.content.override_reasons
        ]
        or None,
        links=[Link(label=link.label, url=link.url, type=link.type) for link in links] or None,
    )


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
        values = {**ctx, "order": None, "days": None, **action.data}
        description = render(template, values).strip() if template is not None else action.key
        actions.append(
            Action(type=action.type, description=description, resource=action.resource, resource_id=action.resource_id)
        )
    label = render(rule.labels[spec.key], {**ctx, "order": None, "days": None}).strip()
    recommended = True if spec.recommended else None
    return Suggestion(label=label, uuid=str(uuid.uuid4()), is_recommended=recommended, actions=actions)
