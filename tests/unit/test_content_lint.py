"""``lint-cards``: content problems found by loading, by rendering every card, reported as file:line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cds_service.cli import app
from cds_service.preview.lint import LintReport, lint_content
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.unit.content_support import cards  # noqa: F401  (the cards fixture)
from tests.unit.content_support import edit as replace_in

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "content_fixtures"
IMAGING = "imaging-without-red-flags.yaml"


def line_of_key(path: Path, prefix: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.lstrip().startswith(prefix))


def non_code_errors(report: LintReport) -> list[str]:
    return [str(i) for i in report.errors if "/valuesets/" not in i.file]


def test_bundled_cards_render_for_every_fixture_and_every_reason() -> None:
    """The bundled rules render without template errors or long summaries, for fixtures and sample data alike."""
    report = lint_content(BUNDLED_CONTENT_DIR, FIXTURES)
    assert non_code_errors(report) == []
    assert report.counts["requests"] == 3 and report.counts["cards"] >= 3
    assert report.counts["samples"] >= report.counts["rules"] > 0
    assert report.counts["codes"] > 100


def test_a_params_typo_in_an_untriggered_reason_is_found_at_its_line(cards: Path) -> None:
    """A reason no fixture triggers is still rendered: a misspelt param is reported at the reason's line."""
    path = cards / IMAGING
    text = path.read_text()
    start = text.index("  no-pt:")
    line = text[:start].count("\n") + 1
    block = text[start:]
    reason_text = next(part for part in block.splitlines() if part.lstrip().startswith("text:"))
    path.write_text(text[:start] + block.replace(reason_text, '    text: "No PT for {{ params.pain_week_max }} weeks."', 1))
    report = lint_content(cards, FIXTURES)
    errors = [i for i in report.errors if i.file == str(path)]
    assert errors, report.issues
    assert errors[0].line == line + 2  # the `text:` line of the no-pt reason
    assert "reasons.no-pt.text" in errors[0].message and "pain_week_max" in errors[0].message


def test_a_long_summary_is_reported_with_its_length(cards: Path) -> None:
    """A summary that renders to 140 characters or more is an error at the summary line."""
    path = cards / IMAGING
    line = line_of_key(path, "summary:")
    long = "Imaging is not needed now " + "and really not needed " * 6
    lines = path.read_text().splitlines()
    lines[line - 1] = f'summary: "{long}"'
    path.write_text("\n".join(lines) + "\n")
    report = lint_content(cards, FIXTURES)
    errors = [i for i in report.errors if i.file == str(path) and i.line == line]
    assert errors and "over the limit of 139" in errors[0].message
    assert f"renders to {len(' '.join(long.split()))} characters" in errors[0].message


def test_a_fact_label_error_is_located_in_the_shared_facts_file(cards: Path) -> None:
    """A label template that fails at render time is reported in _facts.yaml at the label's line."""
    path = cards / "_facts.yaml"
    line = replace_in(path, '  pain: "Neck/upper-back pain: {{ display }}', '  pain: "Neck/upper-back pain: {{ display.words }}')
    report = lint_content(cards, FIXTURES)
    errors = [i for i in report.errors if i.file == str(path)]
    assert errors and errors[0].line == line and "labels.pain" in errors[0].message


def test_a_footer_placeholder_error_is_located_at_its_line_in_the_layout_file(cards: Path) -> None:
    """An unknown placeholder in the detail footer is reported in _layout.yaml at the footer's line."""
    path = cards / "_layout.yaml"
    replace_in(path, "**Orders:** {{ order_list }}", "**Orders:** {{ order_lsit }}")
    report = lint_content(cards, FIXTURES)
    errors = [i for i in report.errors if i.file == str(path)]
    assert errors and errors[0].line == line_of_key(path, "detail_footer:") and "order_lsit" in errors[0].message


def test_schema_errors_are_reported_by_the_loader_with_file_and_line(cards: Path) -> None:
    """A file the loader rejects stops the render checks and is reported at the offending line."""
    path = cards / IMAGING
    line = line_of_key(path, "mode:")
    replace_in(path, "mode: active", "mode: sometimes")
    report = lint_content(cards, FIXTURES)
    assert any(i.file == str(path) and i.line == line and "mode" in i.message for i in report.errors)
    assert report.counts["cards"] == 0 and report.counts["samples"] == 0


def test_no_fixtures_is_a_warning_not_an_error(tmp_path: Path) -> None:
    """Without fixture requests the cards are still rendered with sample data, and a warning says so."""
    report = lint_content(BUNDLED_CONTENT_DIR, tmp_path / "none")
    assert report.counts["samples"] > 0 and report.counts["requests"] == 0
    assert any("no fixture requests" in i.message and i.severity == "warning" for i in report.issues)


def test_cli_prints_file_line_messages_and_exits_non_zero(cards: Path) -> None:
    """`cds-service lint-cards DIR` prints file:line: messages and exits 1 on errors, 0 when clean."""
    path = cards / IMAGING
    line = replace_in(path, "mode: active", "mode: sometimes")
    result = CliRunner().invoke(app, ["lint-cards", str(cards), "--fixtures", str(FIXTURES)])
    assert result.exit_code == 1
    assert f"{path}:{line}: error: mode" in result.output
    replace_in(path, "mode: sometimes", "mode: active")
    clean = CliRunner().invoke(app, ["lint-cards", str(cards), "--fixtures", str(FIXTURES)])
    assert clean.exit_code == 0, clean.output
    assert "0 error(s)" in clean.output


def test_cli_json_format_is_machine_readable(cards: Path) -> None:
    """`--format json` prints one JSON document with ok, counts and issues."""
    path = cards / IMAGING
    line = replace_in(path, "mode: active", "mode: sometimes")
    result = CliRunner().invoke(app, ["lint-cards", str(cards), "--fixtures", str(FIXTURES), "--format", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert {"severity": "error", "file": str(path), "line": line} in [
        {k: i[k] for k in ("severity", "file", "line")} for i in document["issues"]
    ]


def test_bundled_content_lints_clean() -> None:
    """The content shipped in cards/ passes lint-cards against the shipped fixtures, with no error."""
    result = CliRunner().invoke(app, ["lint-cards"])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_the_uncertain_note_is_rendered_with_every_count(cards: Path) -> None:
    """The note may read conditions, medications, observations and age; a count the service does not give is reported at the note's line."""
    path = cards / "_layout.yaml"
    replace_in(path, "{% if counts.age %}", "{% if counts.encounters %}")
    report = lint_content(cards, FIXTURES)
    errors = [i for i in report.errors if i.file == str(path)]
    assert errors and errors[0].line == line_of_key(path, "uncertain_note:") and "encounters" in errors[0].message
