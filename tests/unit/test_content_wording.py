"""Card wording compiles to a template, or to its text when nothing in it is Jinja syntax."""

from __future__ import annotations

import pytest
from jinja2 import StrictUndefined, Undefined, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

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



FIELDS = {"label": "L", "items": "an item named like a dict method", "_private": "p", "refs": ["Condition/1"]}


@pytest.mark.parametrize("name", ["label", "refs", "items", "keys", "_private", "__class__", "__len__", "missing"])
def test_dict_fields_read_as_the_sandbox_reads_them(name: str) -> None:
    """``d.name`` on a dict gives what Jinja's sandbox gives: the item, the dict's own attribute, or the same undefined."""
    sandbox = SandboxedEnvironment(undefined=StrictUndefined)
    ours, theirs = ENV.getattr(FIELDS, name), sandbox.getattr(FIELDS, name)
    if isinstance(theirs, Undefined):
        assert type(ours) is type(theirs)
        assert (ours._undefined_name, ours._undefined_hint, ours._undefined_obj) == (
            theirs._undefined_name, theirs._undefined_hint, theirs._undefined_obj,
        )  # fmt: skip
    else:
        assert ours == theirs


def test_a_missing_dict_field_stops_the_render() -> None:
    """A template reading a field its dict lacks fails as it does in the sandbox, naming the field."""
    with pytest.raises(UndefinedError, match="has no attribute 'age'"):
        render(compile_wording("{{ patient.age }}"), {"patient": {}})
