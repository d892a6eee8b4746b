"""The sandboxed Jinja2 environments card templates are compiled in (once, at load).

Markdown fields (a card's detail, reason texts, fact labels, the footer) are compiled in ``ENV``,
which escapes every printed value the way autoescaping does for HTML: text is data, so a
Condition's text ``[x](javascript:…)`` prints as those characters, never as a link, image,
emphasis or HTML. What content itself renders as markdown (a reason's text, a fact's label)
is passed on as ``Markdown`` and printed as it is. Plain-text fields (summary, suggestion
labels, action descriptions) are compiled in ``PLAIN_ENV``: nothing renders them as markdown.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import StrictUndefined, Template, meta
from jinja2.sandbox import SandboxedEnvironment

# Names a template may use; anything else is an error at load time.
CARD_NAMES = frozenset(
    {"rule", "title", "orders", "order_list", "reasons", "reason", "facts", "patient", "params", "indicator", "referral_on"}
)
SUGGESTION_NAMES = CARD_NAMES | {"order", "days"}
FACT_NAMES = frozenset({"key", "display", "on", "value", "unit", "comparator", "refs"})
FOOTER_NAMES = CARD_NAMES | {"source"}
# What was not read or recognised: ``counts.<UNCERTAIN_COUNTS>``, and ``unavailable``, the data keys
# (``cds_service.facts.model.DATA_KEYS``: conditions, procedures, medications …) that could not be read.
UNCERTAIN_NAMES = frozenset({"counts", "unavailable"})
# The keys of ``counts``: record entries per kind (numbers), and ``age`` (1 when the age could not be told).
UNCERTAIN_COUNTS = ("conditions", "medications", "observations", "age")


class Markdown(str):
    """Markdown rendered from content (a reason's text, a fact's label): printed as it is."""

    __slots__ = ()


# Characters that start markdown syntax inline: code, emphasis, links and images, tables,
# strikethrough, backslash escapes; < and > become entities (no HTML, no autolinks).
_MARKDOWN_SPECIAL = str.maketrans(
    {**{c: "\\" + c for c in "\\`*_[]!|~#"}, "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "}
)
# Any of those characters: most record text has none, and a search is several times faster than
# ``translate``, which looks every character up in the table.
_HAS_SPECIAL = re.compile("[" + "".join(re.escape(chr(c)) for c in _MARKDOWN_SPECIAL) + "]")


def markdown_escape(value: Any) -> str:
    """``value`` as markdown text that shows its characters and forms no markup (one line)."""
    if value is None:
        return ""
    if isinstance(value, Markdown):
        return value
    text = str(value)
    return text.translate(_MARKDOWN_SPECIAL) if _HAS_SPECIAL.search(text) else text


def _plain(value: Any) -> Any:
    """Plain-text fields: no HTML from the record either."""
    if isinstance(value, str):
        return value.replace("<", "&lt;").replace(">", "&gt;")
    return "" if value is None else value


def _number(value: Any) -> str:
    """A number without a needless '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# What ``getattr`` finds on a dict (its methods and object's attributes); any other name is not one.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class CardEnvironment(SandboxedEnvironment):
    """The sandbox, with ``f.label`` on a dict (every template variable is one) read as the sandbox
    reads it — the attribute when ``dict`` has one, else the item — without first raising and
    catching an AttributeError, which was most of a card template's attribute cost."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def _environment(finalize: Any) -> SandboxedEnvironment:
    env = CardEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, finalize=finalize)
    env.filters["number"] = _number
    return env


ENV = _environment(markdown_escape)
PLAIN_ENV = _environment(_plain)


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


def compile_wording(source: str, markdown: bool = True) -> Wording:
    """``source`` compiled in the markdown (or plain-text) environment: a ``StaticText`` when
    nothing in it is Jinja syntax (its text is then what the template renders), else the template."""
    template = (ENV if markdown else PLAIN_ENV).from_string(source)
    if ENV.line_statement_prefix is None and ENV.line_comment_prefix is None and not any(m in source for m in _MARKERS):
        return StaticText(template.render())
    return template
