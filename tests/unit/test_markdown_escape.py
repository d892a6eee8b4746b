"""Text from the record is data in card markdown: it forms no link, image, emphasis or HTML."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from cds_service.content.templates import Markdown, compile_wording, markdown_escape
from tests.conftest import condition, hook_body, patient, service_order

URL = "/cds-services/neck-pain-order-select"
HOSTILE = "Cervicalgia [click](javascript:alert(1)) ![x](https://evil.example/p.png) **now** <b>x</b> `code`"


def tokens(markdown: str) -> set[str]:
    """Every inline token type markdown-it makes of ``markdown`` (links, images, emphasis, HTML...)."""
    found: set[str] = set()
    for block in MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown):
        for child in block.children or []:
            found.add(child.type)
    return found


MARKUP = {"link_open", "image", "strong_open", "em_open", "html_inline", "code_inline", "s_open"}


@pytest.mark.parametrize("text", [HOSTILE, "a_b_c", "x | y", "~~gone~~", "line\n# heading", "back\\slash"])
def test_escaped_text_forms_no_markup_and_keeps_its_characters(text: str) -> None:
    """Escaped record text renders as itself: no markup token, and the visible text is unchanged."""
    escaped = markdown_escape(text)
    assert not tokens(escaped) & MARKUP
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).renderInline(escaped)
    assert "<a" not in rendered and "<img" not in rendered and "<strong" not in rendered
    assert html.unescape(rendered) == text.replace("\n", " ")


def test_content_markdown_is_kept_and_record_values_are_escaped() -> None:
    """A markdown template keeps its own bold text, while the value it prints is escaped; a Markdown value is printed as is."""
    template = compile_wording("**Ordered:** {{ x }} / {{ y }}")
    out = template.render(x="[a](javascript:x)", y=Markdown("**kept**"))
    assert out == "**Ordered:** \\[a\\](javascript:x) / **kept**"


def test_plain_text_fields_are_not_markdown_escaped() -> None:
    """Summary-like plain-text templates print record text without backslashes (only < and > are neutralised)."""
    assert compile_wording("{{ x }}", markdown=False).render(x="C5_C6 [a]") == "C5_C6 [a]"


def test_a_hostile_condition_text_renders_as_text_in_the_card(client: TestClient) -> None:
    """A Condition whose text is a javascript: link shows in the card detail as characters, never as a link or image."""
    body = hook_body([patient(45), condition("M54.2", HOSTILE, onset_days=7)], [service_order("72141", "MRI [x](javascript:y)")])
    cards = client.post(URL, json=body).json()["cards"]
    assert cards
    for card in cards:
        detail = card["detail"]
        assert "](javascript:" not in detail.replace("\\](javascript:", "")
        page = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(detail)
        assert "javascript:" not in "".join(part for part in page.split('href="')[1:])
        assert "<img" not in page
    assert any("\\[click\\](javascript:alert(1))" in c["detail"] for c in cards)


@pytest.mark.parametrize("char", ["\\", "`", "*", "_", "[", "]", "!", "|", "~", "#", "<", ">", "\n", "\r"])
def test_each_markdown_character_is_escaped_alone(char: str) -> None:
    """A text whose only markdown character is ``char`` is escaped all the same."""
    escaped = markdown_escape(f"Cervicalgia {char} C5")
    assert escaped != f"Cervicalgia {char} C5"
    assert not tokens(markdown_escape(f"{char}{char}x{char}{char}")) & MARKUP


def test_text_without_markdown_characters_is_unchanged() -> None:
    """Record text with no markdown character prints as it is (numbers and dates as their text)."""
    assert markdown_escape("Oxycodone Hydrochloride 5 MG Oral Tablet (Condition/abc-1.2)") == "Oxycodone Hydrochloride 5 MG Oral Tablet (Condition/abc-1.2)"
    assert markdown_escape(7.5) == "7.5"
