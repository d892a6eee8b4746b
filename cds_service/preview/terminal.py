"""``cds-service preview``: the cards a fixture patient's orders produce, drawn in the terminal.

Each card is a panel in its indicator's colour (info blue, warning yellow, critical red) titled
with the rule id: the summary in full, the markdown detail, the suggestions and their actions,
links, override reasons and the source. Shadow-mode cards, never shown to clinicians, are dimmed.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from cds_service.preview.simulate import Evaluation, RuleResult
from cds_service.facts.orders import ORDER_TYPES
from cds_service.preview.drafts import Preview

INDICATOR_STYLES = {"info": "blue", "warning": "yellow", "critical": "red"}


def _orders(preview: Preview) -> list[tuple[str, str, bool]]:
    """(reference, display, selected) of the request's draft orders."""
    context = preview.request["context"]
    selections = context.get("selections")
    out = []
    for entry in context["draftOrders"]["entry"]:
        resource = entry["resource"]
        if resource.get("resourceType") not in ORDER_TYPES:
            continue
        ref = f"{resource['resourceType']}/{resource.get('id')}"
        concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
        display = concept.get("text") or next((c.get("display") for c in concept.get("coding") or [] if c.get("display")), ref)
        out.append((ref, str(display), selections is None or ref in selections))
    return out


def card_panel(result: RuleResult) -> Panel:
    """One card as the EHR would show it; an unrenderable card shows its error."""
    if result.card is None:
        return Panel(Text(result.error or "not rendered", style="red"), title=f"{result.rule_id}: template error", border_style="red")
    card = result.card.to_wire()
    style = INDICATOR_STYLES[card["indicator"]]
    parts: list[RenderableType] = [Text(card["summary"], style="bold"), Text(""), Markdown(card.get("detail") or "")]
    for suggestion in card.get("suggestions") or []:
        mark = " (recommended)" if suggestion.get("isRecommended") else ""
        line = Text.assemble(("[ ", "dim"), (suggestion["label"], "bold"), (" ]", "dim"), (mark, "green"))
        parts.append(line)
        for action in suggestion.get("actions") or []:
            parts.append(Text(f"    {action['type']}: {action['description']}", style="dim"))
    for link in card.get("links") or []:
        parts.append(Text.assemble("Link: ", (link["label"], f"link {link['url']} underline"), f" <{link['url']}>"))
    reasons = [r.get("display") or r.get("code") for r in card.get("overrideReasons") or []]
    if reasons:
        parts.append(Text("Override reasons: " + "; ".join(str(r) for r in reasons), style="dim"))
    source = card["source"]
    parts.append(Text.assemble("Source: ", (source["label"], "italic"), f" <{source['url']}>" if source.get("url") else ""))
    shadow = result.mode == "shadow"
    title = Text.assemble((f" {card['indicator'].upper()} ", f"bold reverse {style}"), " ", result.rule_id)
    subtitle = "SHADOW MODE: not shown to clinicians" if shadow else None
    return Panel(
        Group(*parts),
        title=title,
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style=f"dim {style}" if shadow else style,
    )


def print_preview(console: Console, preview: Preview, evaluation: Evaluation) -> None:
    """The patient, the orders and every card (shadow cards last)."""
    age = f"{evaluation.age} years" if evaluation.age is not None else "age unknown"
    console.print(Text.assemble(("Patient fixture ", "dim"), (preview.patient, "bold"), f" ({age}) · hook {evaluation.hook}"))
    for ref, display, selected in _orders(preview):
        console.print(Text.assemble("  ", ("●" if selected else "○", "green" if selected else "dim"), f" {display} ", (ref, "dim")))
    if evaluation.unavailable:
        console.print(Text(f"Data not available: {', '.join(sorted(evaluation.unavailable))}", style="yellow"))
    shown = [r for r in evaluation.results if r.mode != "shadow"]
    shadow = [r for r in evaluation.results if r.mode == "shadow"]
    if not evaluation.results:
        console.print(Text("No cards.", style="bold"))
    for result in shown + shadow:
        console.print(card_panel(result))


def as_json(preview: Preview, evaluation: Evaluation) -> dict[str, Any]:
    """The same preview for machines: every card in CDS Hooks JSON with its rule and mode."""
    return {
        "patient": preview.patient,
        "hook": evaluation.hook,
        "age": evaluation.age,
        "orders": [{"ref": ref, "display": display, "selected": selected} for ref, display, selected in _orders(preview)],
        "cards": [
            {"rule": r.rule_id, "mode": r.mode, "card": r.card.to_wire() if r.card else None, "error": r.error}
            for r in evaluation.results
        ],
    }
