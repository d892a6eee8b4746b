"""The sandboxed Jinja2 environment card templates are compiled in (once, at load)."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, Template, meta
from jinja2.sandbox import SandboxedEnvironment

# Names a template may use; anything else is an error at load time.
CARD_NAMES = frozenset({"rule", "title", "orders", "order_list", "reasons", "reason", "facts", "patient", "params", "indicator"})
SUGGESTION_NAMES = CARD_NAMES | {"order", "days"}
FACT_NAMES = frozenset({"key", "display", "on", "value", "unit", "refs"})
FOOTER_NAMES = CARD_NAMES | {"source"}
UNCERTAIN_NAMES = frozenset({"counts"})  # entries not read or recognised, per kind: conditions, medications


def _markdown_safe(value: Any) -> Any:
    """Values from the patient record cannot inject raw HTML into markdown."""
    if isinstance(value, str):
        return value.replace("<", "&lt;").replace(">", "&gt;")
    return "" if value is None else value


def _number(value: Any) -> str:
    """A number without a needless '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, finalize=_markdown_safe
)
ENV.filters["number"] = _number


def undeclared(source: str) -> set[str]:
    """Top-level names a template reads."""
    return set(meta.find_undeclared_variables(ENV.parse(source)))


class StaticText:
    """Wording with no placeholder, tag or comment: rendered once, at load. Renders (``render``,
    and ``content.render.render``) as the Jinja template of the same source does, without
    building a template context on every card."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.text


Wording = Template | StaticText
_MARKERS = (ENV.block_start_string, ENV.variable_start_string, ENV.comment_start_string)


def compile_wording(source: str) -> Wording:
    """``source`` compiled in the card environment: a ``StaticText`` when nothing in it is Jinja
    syntax (its text is then what the template renders), else the template."""
    template = ENV.from_string(source)
    if ENV.line_statement_prefix is None and ENV.line_comment_prefix is None and not any(m in source for m in _MARKERS):
        return StaticText(template.render())
    return template
