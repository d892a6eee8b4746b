"""Shared by the content tests: a private copy of the bundled cards, and a one-place text edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds_service.settings import BUNDLED_CONTENT_DIR


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    """A private copy of the bundled cards to break."""
    return Path(shutil.copytree(BUNDLED_CONTENT_DIR, tmp_path / "cards"))


def cards_with(tmp_path: Path, name: str, text: str) -> Path:
    """A private copy of the bundled cards whose file ``name`` reads ``text``."""
    directory = Path(shutil.copytree(BUNDLED_CONTENT_DIR, tmp_path / "cards"))
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` (which must occur once) in ``path``; the 1-based line where it was."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1
