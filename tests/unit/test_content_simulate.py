"""``simulate``: alert burden per rule and indicator over the fixture requests, as a table, CSV and PNG."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cds_service.cli import app
from cds_service.content.loader import ContentSet, load_content
from cds_service.preview.simulate import burden, simulate, write_chart, write_csv
from cds_service.settings import BUNDLED_CONTENT_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "content_fixtures"
PT = "physical-therapy-first"
IMAGING = "imaging-without-red-flags"


@pytest.fixture(scope="module")
def content() -> ContentSet:
    return load_content(BUNDLED_CONTENT_DIR)


@pytest.fixture
def shadow_cards(tmp_path: Path) -> Path:
    """The bundled cards with physical-therapy-first in shadow mode."""
    cards = Path(shutil.copytree(BUNDLED_CONTENT_DIR, tmp_path / "cards"))
    path = cards / f"{PT}.yaml"
    path.write_text(path.read_text().replace("mode: active", "mode: shadow", 1))
    return cards


def test_every_fixture_request_is_evaluated_with_its_cards(content: ContentSet) -> None:
    """Each fixture request runs through the rules; the out-of-scope request yields no card."""
    runs = {run.name: run for run in simulate(content, FIXTURES)}
    assert set(runs) == {"out-of-scope", "vignette-1", "vignette-2"}
    assert all(run.error is None and run.evaluation is not None for run in runs.values())
    assert runs["out-of-scope"].evaluation.results == ()  # type: ignore[union-attr]
    vignette_2 = {r.rule_id: r.card.indicator for r in runs["vignette-2"].evaluation.results if r.card}  # type: ignore[union-attr]
    assert vignette_2[IMAGING] == "warning" and vignette_2[PT] == "info"


def test_burden_counts_cards_per_rule_and_indicator(content: ContentSet) -> None:
    """Rows count each rule's cards by indicator over all requests, busiest first, with every rule listed."""
    rows = {row.rule: row for row in burden(content, simulate(content, FIXTURES))}
    assert set(rows) == set(content.rules)
    assert rows[PT].counts == {"critical": 0, "warning": 0, "info": 2} and rows[PT].requests == 3
    assert rows[IMAGING].counts["warning"] == 1 and rows[IMAGING].total == 1
    assert rows[PT].rate == pytest.approx(2 / 3)
    ordered = burden(content, simulate(content, FIXTURES))
    assert [r.total for r in ordered] == sorted((r.total for r in ordered), reverse=True)


def test_shadow_rules_are_counted_and_marked(shadow_cards: Path) -> None:
    """A shadow-mode rule is evaluated and counted, and its row says shadow."""
    content = load_content(shadow_cards)
    runs = simulate(content, FIXTURES)
    row = next(r for r in burden(content, runs) if r.rule == PT)
    assert row.mode == "shadow" and row.counts["info"] == 2
    results = [r for run in runs if run.evaluation for r in run.evaluation.results if r.rule_id == PT]
    assert results and all(r.mode == "shadow" for r in results)


def test_csv_has_one_row_per_rule(content: ContentSet, tmp_path: Path) -> None:
    """The CSV has a header and one row per rule with its counts, total and rate."""
    rows = burden(content, simulate(content, FIXTURES))
    write_csv(rows, tmp_path / "burden.csv")
    with (tmp_path / "burden.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(content.rules)
    pt = next(r for r in table if r["rule"] == PT)
    assert pt == {
        "rule": PT, "mode": "active", "critical": "0", "warning": "0", "info": "2",
        "total": "2", "requests": "3", "cards_per_request": "0.667",
    }  # fmt: skip


def test_chart_is_a_valid_png(content: ContentSet, tmp_path: Path) -> None:
    """The chart is a PNG image of sensible size with the indicator colours drawn."""
    rows = burden(content, simulate(content, FIXTURES))
    write_chart(rows, tmp_path / "burden.png")
    with Image.open(tmp_path / "burden.png") as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 250
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 24) or []}
    assert (0xF9, 0xA8, 0x25) in colours and (0x15, 0x65, 0xC0) in colours  # warning and info bars


def test_cli_prints_the_table_and_writes_csv_and_chart(shadow_cards: Path, tmp_path: Path) -> None:
    """`cds-service simulate` prints the burden table (shadow marked) and writes the CSV and PNG it is asked for."""
    out_csv, out_png = tmp_path / "b.csv", tmp_path / "b.png"
    result = CliRunner().invoke(
        app,
        ["simulate", str(FIXTURES), "--content-dir", str(shadow_cards), "--csv", str(out_csv), "--chart", str(out_png)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    line = next(text for text in result.output.splitlines() if PT in text)
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    assert cells == [PT, "shadow", "0", "0", "2", "2", "0.67"]
    assert "3 fixture request(s)" in result.output
    assert out_csv.read_text().startswith("rule,mode,critical,warning,info,total,requests,cards_per_request")
    with Image.open(out_png) as image:
        assert image.format == "PNG"


def test_chart_without_matplotlib_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where only the service is installed, `simulate --chart` exits 2 naming the install command, with no traceback."""
    monkeypatch.setattr("cds_service.preview.simulate.chart_available", lambda: False)
    result = CliRunner().invoke(app, ["simulate", str(FIXTURES), "--chart", str(tmp_path / "b.png")])
    assert result.exit_code == 2
    assert "scripts/bootstrap tools" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "b.png").exists()
