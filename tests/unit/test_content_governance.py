"""Governed content: version, status, last clinical review and changelog on every card file."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from cds_service.preview.lint import lint_content
from cds_service.content.loader import load_content
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.unit.content_support import cards  # noqa: F401  (the cards fixture)
from tests.unit.content_support import edit as replace_in

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "content_fixtures"
IMAGING = "imaging-without-red-flags.yaml"
REVIEW = "review:\n  date: 2026-12-04\n  by: Content team (initial import)\n"


def test_every_bundled_card_is_versioned_reviewed_and_has_a_changelog() -> None:
    """Each bundled card has a version, a status, a real review date and a changelog entry for its version."""
    content = load_content(BUNDLED_CONTENT_DIR)
    assert len(content.rules) == 23
    for rule in content.rules.values():
        card = rule.content
        assert card.version and re.fullmatch(r"\d+\.\d+\.\d+", card.version)
        assert card.status in ("draft", "active", "retired")
        assert card.status != "active" or isinstance(card.review.date, date)  # type: ignore[union-attr]
        assert card.changelog[0].version == card.version


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (REVIEW, "", "review"),  # an active card without its review date
        ("  date: 2026-12-04\n  by:", "  date: last spring\n  by:", "date"),  # a review date that is no date
        ("\nversion: 1.1.0\n", "\nversion: 1.2.0\n", "changelog"),  # a version bump without its entry
        ("status: active\n", "status: retired\n", "retired"),  # retired but still active
    ],
    ids=["active-without-review", "review-date-not-a-date", "version-without-changelog", "retired-not-off"],
)
def test_ungoverned_cards_are_refused_at_their_file(cards: Path, old: str, new: str, message: str) -> None:
    """lint-cards refuses a card breaking a governance rule, naming its file, line and the field."""
    path = cards / IMAGING
    replace_in(path, old, new)
    report = lint_content(cards, FIXTURES)
    assert any(i.file == str(path) and i.line and message in i.message for i in report.errors)


def test_a_draft_card_needs_no_review(cards: Path) -> None:
    """A draft card without a review loads."""
    path = cards / IMAGING
    replace_in(path, "status: active\n" + REVIEW, "status: draft\n")
    assert not [i for i in lint_content(cards, FIXTURES).errors if i.file == str(path)]
