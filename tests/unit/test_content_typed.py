"""Typed content: every rule's params, value sets and content file are checked at load, lint and reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds_service.cli import app
from cds_service.content.loader import ContentError, load_content
from cds_service.content.store import ContentStore
from cds_service.rules import REGISTRY
from cds_service.rules.params import Params
from tests.unit.content_support import cards, edit  # noqa: F401  (the cards fixture)

RELAXANT = "muscle-relaxant-older-adult.yaml"


def problems(directory: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    return [str(p) for p in caught.value.problems]


def lint(directory: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["lint-cards", str(directory)])
    return result.exit_code, result.output


def test_every_rule_declares_a_strict_params_model() -> None:
    """Each registered rule names a params model with strict types and no unknown names."""
    for spec in REGISTRY.values():
        assert issubclass(spec.params_model, Params), spec.id
        assert spec.params_model.model_config.get("strict") is True
        assert spec.params_model.model_config.get("extra") == "forbid"


@pytest.mark.parametrize(
    ("value", "message"),
    [('"65"', "valid integer"), ("-5", "greater than or equal to 50"), ("true", "valid integer"), ("65.5", "valid integer")],
)
def test_a_mistyped_or_out_of_range_param_is_refused_at_its_line(cards: Path, value: str, message: str) -> None:
    """`older_age` quoted, negative, boolean or fractional is an error naming the file, line, unit and value."""
    path = cards / RELAXANT
    line = edit(path, "older_age: 65", f"older_age: {value}")
    found = problems(cards)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{line}: params.older_age (years): ") and message in found[0]
    code, output = lint(cards)
    assert code == 1 and f"{path}:{line}:" in output


def test_an_unknown_param_name_is_refused(cards: Path) -> None:
    """A misspelt param name is not silently ignored."""
    path = cards / RELAXANT
    line = edit(path, "older_age: 65", "older_age: 65\n  oldr_age: 70")
    assert any(f"{path}:{line + 1}: params.oldr_age" in p for p in problems(cards))


def test_cross_field_param_checks(cards: Path) -> None:
    """The suggested course may not be longer than the longest course allowed."""
    path = cards / "muscle-relaxant-duration.yaml"
    edit(path, "suggested_days: 14", "suggested_days: 30")
    assert any("suggested_days (30) must not exceed max_days (14)" in p for p in problems(cards))


def test_a_deleted_rule_file_is_refused_and_reload_keeps_the_old_content(cards: Path) -> None:
    """Removing a rule's file would silence it: load, lint and reload all refuse, naming the missing file."""
    store = ContentStore(cards)
    old = store.current
    (cards / RELAXANT).unlink()
    assert f"{cards / RELAXANT}:0: rule 'muscle-relaxant-older-adult' has no content file" in problems(cards)[0]
    assert store.reload() is False and store.current is old
    assert any(str(cards / RELAXANT) in p for p in store.last_problems)
    assert lint(cards)[0] == 1


def test_mode_off_written_bare_in_yaml_switches_the_rule_off(cards: Path) -> None:
    """YAML reads a bare `off` as false; `mode: off` still means off (the rule is kept, and does not run)."""
    edit(cards / RELAXANT, "mode: active", "mode: off")
    content = load_content(cards)
    assert content.rules["muscle-relaxant-older-adult"].content.mode == "off"
    assert "muscle-relaxant-older-adult" not in content.rule_params


def test_a_missing_value_set_a_rule_reads_is_refused(cards: Path) -> None:
    """A rule whose declared value set is gone would match nothing: the rule's file names the missing set."""
    (cards / "valuesets" / "muscle-relaxants-beers.json").unlink()
    assert any(
        str(cards / RELAXANT) in p and "value set 'muscle-relaxants-beers'" in p for p in problems(cards)
    )


def test_shared_files_starting_with_underscore_are_not_rule_files(cards: Path) -> None:
    """A shared content file (`_something.yaml`) is neither an unknown rule nor a missing one."""
    (cards / "_notes.yaml").write_text("notes: [shared wording]\n", encoding="utf-8")
    assert len(load_content(cards).rules) == len(REGISTRY)


def test_content_for_an_unknown_rule_is_refused(cards: Path) -> None:
    """A content file whose rule is not in the code is an error at its `rule:` line."""
    text = (cards / RELAXANT).read_text().replace("rule: muscle-relaxant-older-adult", "rule: no-such-rule")
    (cards / "no-such-rule.yaml").write_text(text)
    assert any("no rule 'no-such-rule' exists in the code" in p for p in problems(cards))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("Prefer heat,", "**Conflict resolved:** Beers wins. Prefer heat,", "authoring note"),
        ("Prefer heat,", "See [Beers](https://doi.org/10.1111/jgs.18372). Prefer heat,", "markdown link"),
    ],
)
def test_clinician_text_without_authoring_notes_or_markdown_links(cards: Path, old: str, new: str, message: str) -> None:
    """An authoring note or a markdown link in a card's detail is refused at its line (rationale and links hold them)."""
    path = cards / RELAXANT
    edit(path, old, new)
    found = problems(cards)
    assert any(p.startswith(f"{path}:") and message in p for p in found), found
