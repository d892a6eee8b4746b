"""The per-rule report: counts, override rate, top reasons, --since, CSV, and the CLI commands."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds_service.cli import app as cli
from cds_service.feedback.migrate import current_revision, head_revision
from cds_service.feedback.report import UNKNOWN_RULE, RuleStats, build_report, write_csv
from cds_service.feedback.store import FeedbackRecord, FeedbackStore, ServedCard

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
IMAGING, PT = "imaging-without-red-flags", "physical-therapy-first"
R1 = ("urn:reasons", "red-flag-not-in-record", "Red flag not yet documented")
R2 = ("urn:reasons", "pt-elsewhere", "PT elsewhere")


def served(uuid: str, rule: str, at: datetime = T0) -> ServedCard:
    return ServedCard(uuid, rule, "neck-pain-order-select", "hi", "warning", at, "v1")


def overridden(uuid: str, reason: tuple[str, str, str] | None, at: datetime = T0) -> FeedbackRecord:
    system, code, display = reason or (None, None, None)
    return FeedbackRecord(uuid, "overridden", at, (), code, system, display, "free text")


def accepted(uuid: str, at: datetime = T0) -> FeedbackRecord:
    return FeedbackRecord(uuid, "accepted", at, ("s-1",))


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite store holding a small, known history."""
    url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    store = FeedbackStore.open(url)
    store.migrate()
    store.record_cards([served(f"a{n}", IMAGING) for n in range(1, 6)] + [served("b1", PT)])
    store.record_cards([served("old", IMAGING, T0 - timedelta(days=30))])
    store.record_feedback(
        "neck-pain-order-select",
        [
            overridden("a1", R1),
            overridden("a2", R1, T0 + timedelta(minutes=1)),
            overridden("a3", R2),
            overridden("a4", R2),
            accepted("a4", T0 + timedelta(hours=1)),  # the latest outcome of a4 wins
            overridden("old", R2, T0 - timedelta(days=30)),
            overridden("unknown", None),
        ],
    )
    store.close()
    yield url


def by_rule(rows: list[RuleStats]) -> dict[str, RuleStats]:
    return {r.rule_id: r for r in rows}


def open_report(url: str, since: datetime | None = None) -> list[RuleStats]:
    store = FeedbackStore.open(url)
    try:
        return build_report(store.engine, since)
    finally:
        store.close()


def test_counts_use_each_cards_latest_outcome(db_url: str) -> None:
    """Shown, accepted, overridden and no-feedback counts per rule, one outcome per card."""
    imaging = by_rule(open_report(db_url))[IMAGING]
    assert (imaging.shown, imaging.accepted, imaging.overridden, imaging.no_feedback) == (6, 1, 4, 1)
    assert imaging.override_rate == pytest.approx(0.8)


def test_top_reasons_are_counted_by_code_most_frequent_first(db_url: str) -> None:
    """Override reasons are grouped by code and listed by count; a superseded override is not counted."""
    imaging = by_rule(open_report(db_url))[IMAGING]
    assert [(r.code, r.count) for r in imaging.top_reasons] == [("pt-elsewhere", 2), ("red-flag-not-in-record", 2)]
    assert imaging.top_reasons[0].label == "PT elsewhere"


def test_rule_without_feedback_has_no_rate(db_url: str) -> None:
    """A rule whose cards got no feedback shows them as no-feedback and no override rate."""
    pt = by_rule(open_report(db_url))[PT]
    assert (pt.shown, pt.no_feedback, pt.override_rate) == (1, 1, None)


def test_feedback_on_unknown_cards_has_its_own_row(db_url: str) -> None:
    """Feedback for a card the store never saw is reported under the unknown-card row, listed last."""
    rows = open_report(db_url)
    assert rows[-1].rule_id == UNKNOWN_RULE
    assert (rows[-1].shown, rows[-1].overridden, rows[-1].top_reasons[0].label) == (0, 1, "(no reason code)")


def test_since_keeps_cards_served_from_then_on(db_url: str) -> None:
    """--since drops cards served earlier together with their feedback."""
    imaging = by_rule(open_report(db_url, T0 - timedelta(days=1)))[IMAGING]
    assert (imaging.shown, imaging.accepted, imaging.overridden) == (5, 1, 3)
    assert imaging.override_rate == pytest.approx(0.75)
    assert [(r.code, r.count) for r in imaging.top_reasons] == [("red-flag-not-in-record", 2), ("pt-elsewhere", 1)]


def test_csv_has_one_row_per_rule(db_url: str) -> None:
    """The CSV carries the numbers, the rate as a fraction and the top reasons."""
    out = io.StringIO()
    write_csv(open_report(db_url), out)
    rows = {r["rule_id"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert set(rows) == {IMAGING, PT, UNKNOWN_RULE}
    assert rows[IMAGING] | {"top_override_reasons": ""} == {
        "rule_id": IMAGING, "cards_shown": "6", "accepted": "1", "overridden": "4", "no_feedback": "1",
        "override_rate": "0.8000", "top_override_reasons": "",
    }
    assert rows[IMAGING]["top_override_reasons"].startswith("PT elsewhere [pt-elsewhere] (2); ")
    assert rows[PT]["override_rate"] == ""


def test_cli_prints_a_table_and_writes_csv(db_url: str, tmp_path: Path) -> None:
    """`feedback-report --db URL --csv FILE` prints the table and writes the same numbers as CSV."""
    target = tmp_path / "report.csv"
    result = CliRunner().invoke(cli, ["feedback-report", "--db", db_url, "--csv", str(target)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert IMAGING in result.output and "80.0%" in result.output and "all rules" in result.output
    assert "free text" not in result.output
    rows = csv.DictReader(io.StringIO(target.read_text(encoding="utf-8")))
    assert next(r for r in rows if r["rule_id"] == IMAGING)["overridden"] == "4"


def test_cli_csv_to_stdout_with_since(db_url: str) -> None:
    """`--csv -` writes only CSV to standard output; `--since DATE` filters by serving date."""
    result = CliRunner().invoke(cli, ["feedback-report", "--db", db_url, "--csv", "-", "--since", "2025-02-28"])
    assert result.exit_code == 0, result.output
    rows = {r["rule_id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows[IMAGING]["cards_shown"] == "5"


def test_cli_reports_a_missing_database(tmp_path: Path) -> None:
    """A SQLite file that does not exist is an error, and no empty file is left behind."""
    missing = tmp_path / "none.sqlite3"
    result = CliRunner().invoke(cli, ["feedback-report", "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and "no feedback database" in result.output
    assert not missing.exists()


def test_cli_reports_an_unmigrated_database(tmp_path: Path) -> None:
    """A database without the feedback tables points the user at `db upgrade`."""
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    result = CliRunner().invoke(cli, ["feedback-report", "--db", f"sqlite:///{empty}"])
    assert result.exit_code == 1 and "db upgrade" in result.output


def test_cli_db_upgrade_creates_the_tables(tmp_path: Path) -> None:
    """`db upgrade --db URL` migrates a new database to the head revision."""
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    store = FeedbackStore.open(url)
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()


def test_by_version_compares_override_rates_before_and_after_a_change(tmp_path: Path) -> None:
    """`feedback-report --by version` gives one row per rule and card version, each with its own override rate."""
    url = f"sqlite:///{tmp_path / 'versions.sqlite3'}"
    store = FeedbackStore.open(url)
    try:
        store.migrate()
        cards = [ServedCard(f"old{i}", IMAGING, "svc", "hi", "warning", T0, "c1", "1.0.0") for i in range(4)]
        cards += [ServedCard(f"new{i}", IMAGING, "svc", "hi", "warning", T0, "c2", "1.1.0") for i in range(4)]
        cards.append(ServedCard("legacy", IMAGING, "svc", "hi", "warning", T0, "c0"))
        store.record_cards(cards)
        store.record_feedback("svc", [overridden(f"old{i}", R1) for i in range(3)] + [accepted("old3")])
        store.record_feedback("svc", [overridden("new0", R1)] + [accepted(f"new{i}") for i in range(1, 4)])
        rows = {r.rule_id: r for r in build_report(store.engine, by_version=True)}
        assert set(rows) == {f"{IMAGING} v1.0.0", f"{IMAGING} v1.1.0", f"{IMAGING} v?"}
        assert rows[f"{IMAGING} v1.0.0"].override_rate == 0.75 and rows[f"{IMAGING} v1.1.0"].override_rate == 0.25
        assert [r.rule_id for r in build_report(store.engine)] == [IMAGING]  # without --by, one row per rule
    finally:
        store.close()
    result = CliRunner().invoke(cli, ["feedback-report", "--db", url, "--by", "version"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{IMAGING} v1.0.0" in result.output and "75.0%" in result.output and "25.0%" in result.output
    bad = CliRunner().invoke(cli, ["feedback-report", "--db", url, "--by", "colour"])
    assert bad.exit_code != 0 and "version" in bad.output
