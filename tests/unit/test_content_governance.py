"""Governed content: version, status, last clinical review and changelog on every card file."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from cds_service.content.lint import lint_content
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


def test_an_active_card_without_a_review_date_is_refused_at_its_line(cards: Path) -> None:
    """lint-cards refuses an active card whose review is missing, naming the file and line."""
    path = cards / IMAGING
    replace_in(path, REVIEW, "")
    report = lint_content(cards, FIXTURES)
    assert any(i.file == str(path) and i.line and "review" in i.message for i in report.errors)


def test_a_review_date_must_be_a_date(cards: Path) -> None:
    """A review date that is not a calendar date is an error at its line."""
    path = cards / IMAGING
    replace_in(path, "  date: 2026-12-04\n  by:", "  date: last spring\n  by:")
    report = lint_content(cards, FIXTURES)
    assert any(i.file == str(path) and "date" in i.message for i in report.errors)


def test_a_draft_card_needs_no_review(cards: Path) -> None:
    """A draft card without a review loads."""
    path = cards / IMAGING
    replace_in(path, "status: active\n" + REVIEW, "status: draft\n")
    assert not [i for i in lint_content(cards, FIXTURES).errors if i.file == str(path)]


def test_the_changelog_must_start_with_the_current_version(cards: Path) -> None:
    """A version bump without its changelog entry is refused."""
    path = cards / IMAGING
    replace_in(path, "\nversion: 1.1.0\n", "\nversion: 1.2.0\n")
    report = lint_content(cards, FIXTURES)
    assert any(i.file == str(path) and "changelog" in i.message for i in report.errors)


def test_a_retired_card_must_be_off(cards: Path) -> None:
    """status retired with mode active is refused."""
    path = cards / IMAGING
    replace_in(path, "status: active\n", "status: retired\n")
    report = lint_content(cards, FIXTURES)
    assert any(i.file == str(path) and "retired" in i.message for i in report.errors)
