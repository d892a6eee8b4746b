"""Card wording compiles to a template, or to its text when nothing in it is Jinja syntax."""

from __future__ import annotations

import pytest

from cds_service.content.render import render
from cds_service.content.templates import ENV, StaticText, compile_wording

CONTEXT = {"order_list": "MRI <cervical>", "params": {"pain_weeks_max": 6}, "reason": {"pain_weeks": 2}}
SOURCES = [
    "Create a physical therapy referral",
    "Start conservative care first.\n",
    "  two\n\nparagraphs  \n\n",
    "Braces { alone } and <b>markup</b> stay as written",
    "**{{ order_list }}** needs review",
    "Pain began {{ reason.pain_weeks }} week(s) ago, under {{ params.pain_weeks_max }} weeks.",
    "{% if params %}tagged{% endif %}",
    "text {# a comment #} more",
]


@pytest.mark.parametrize("source", SOURCES)
def test_renders_as_the_jinja_template(source: str) -> None:
    """Compiled wording renders, by ``render`` and by ``.render``, exactly what the Jinja template renders."""
    expected = ENV.from_string(source).render(CONTEXT)
    wording = compile_wording(source)
    assert wording.render(CONTEXT) == expected
    assert render(wording, CONTEXT) == expected


@pytest.mark.parametrize("source", SOURCES)
def test_only_wording_without_jinja_syntax_is_static(source: str) -> None:
    """Wording is static text exactly when it holds no placeholder, tag or comment."""
    assert isinstance(compile_wording(source), StaticText) == (not any(m in source for m in ("{{", "{%", "{#")))

