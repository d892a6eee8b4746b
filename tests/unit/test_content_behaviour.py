"""Lint and hot reload prove behaviour: every rule run on every fixture, cards compared with each fixture's expectation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.preview.lint import lint_content, verified_content
from cds_service.content.store import ContentStore
from cds_service.fixtures import FIXTURES_DIR
from cds_service.rules import REGISTRY
from cds_service.rules.base import RuleInput
from cds_service.settings import BUNDLED_CONTENT_DIR, Settings
from tests.conftest import running_app
from tests.unit.content_support import cards, edit  # noqa: F401  (the cards fixture)

RELAXANT = "muscle-relaxant-older-adult"


def errors_in(cards: Path, file: Path) -> list[str]:
    return [f"{i.line}: {i.message}" for i in lint_content(cards).errors if i.file == str(file)]


def rejected_by_reload(cards: Path, file: Path) -> list[str]:
    """Reload the mutated copy: the problems naming ``file`` (the old content stays)."""
    store = ContentStore(cards, FIXTURES_DIR, verify=verified_content)
    old = store.current
    assert store.reload() is False and store.current is old
    return [p for p in store.last_problems if p.startswith(f"{file}:")]


def test_the_bundled_content_produces_every_fixture_s_expected_cards() -> None:
    """The shipped cards pass lint with no error against the bundled fixtures and their expectations."""
    report = lint_content(BUNDLED_CONTENT_DIR)
    assert report.errors == [] and report.counts["requests"] >= 14


def test_a_threshold_that_changes_outcomes_is_refused_naming_the_rule_file(cards: Path) -> None:
    """An in-range `older_age: 90` silences the Beers card of fixture patients in their 70s: lint names the file and the fixture."""
    path = cards / f"{RELAXANT}.yaml"
    original = path.read_text()
    line = edit(path, "older_age: 65", "older_age: 90")
    errors = errors_in(cards, path)
    assert any(e.startswith(f"{line - 1}:") or e.startswith(f"{line}:") for e in errors), errors
    assert any("v4-order-sign expects a warning card; the rule did not fire" in e for e in errors), errors
    path.write_text(original)
    store = ContentStore(cards, FIXTURES_DIR, verify=verified_content)
    old = store.current
    edit(path, "older_age: 65", "older_age: 90")
    assert store.reload() is False and store.current is old
    assert any(p.startswith(f"{path}:") and "v4-order-sign" in p for p in store.last_problems)


def test_an_rxnorm_code_not_in_the_table_is_refused_naming_the_value_set(cards: Path) -> None:
    """A code that is no RxNorm product or ingredient of the bundled table is an error at its line in the value set."""
    path = cards / "valuesets" / "muscle-relaxants-beers.json"
    line = edit(path, '"code": "21949"', '"code": "99999999"')
    errors = errors_in(cards, path)
    assert any(e.startswith(f"{line}:") and "'99999999' is not in the bundled RxNorm tables" in e for e in errors), errors
    store = ContentStore(cards, FIXTURES_DIR, verify=verified_content)
    assert store.reload() is False
    assert any(p.startswith(f"{path}:{line}:") for p in store.last_problems)


def test_a_template_that_fails_only_when_rendered_is_refused_by_lint_and_reload(cards: Path) -> None:
    """A misspelt field in a reason's text loads, but fails to render: lint and reload refuse it at its line."""
    path = cards / f"{RELAXANT}.yaml"
    text = path.read_text()
    original = text.split("summary: ", 1)[1].split("\n", 1)[0]
    line = edit(path, f"summary: {original}", 'summary: "{{ params.older_agee }} and more"')
    errors = errors_in(cards, path)
    assert any(e.startswith(f"{line}:") and "older_agee" in e for e in errors), errors
    assert rejected_by_reload(cards, path)


def test_a_rule_that_raises_on_a_fixture_is_a_lint_error_in_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule exception on any fixture is reported in the rule's content file with the exception and the fixture."""

    def broken(data: RuleInput) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(REGISTRY, RELAXANT, dataclasses.replace(REGISTRY[RELAXANT], fn=broken))
    report = lint_content(BUNDLED_CONTENT_DIR)
    mine = [i for i in report.errors if i.file.endswith(f"{RELAXANT}.yaml")]
    assert mine and all("ZeroDivisionError: division by zero" in i.message for i in mine)
    assert {i.message.rsplit("(fixture ", 1)[1] for i in mine} >= {"v4-order-sign)", "v1-order-sign)"}


def test_a_rule_switched_off_is_a_warning_not_an_error(cards: Path) -> None:
    """Switching a rule off is a deliberate choice: lint warns for each fixture that loses its card, and passes."""
    path = cards / f"{RELAXANT}.yaml"
    edit(path, "mode: active", "mode: off")
    report = lint_content(cards)
    assert report.ok
    assert any(i.severity == "warning" and i.file == str(path) and "mode off" in i.message for i in report.issues)


@pytest.fixture
def app_client(settings: Settings, cards: Path) -> Iterator[TestClient]:
    with running_app(settings.model_copy(update={"content_dir": cards})) as client:
        yield client


def test_a_rejected_reload_is_visible_in_readiness(app_client: TestClient, cards: Path) -> None:
    """The admin reload refuses behaviour-breaking content; /readyz stays 200, says degraded and lists file:line."""
    path = cards / f"{RELAXANT}.yaml"
    version = app_client.get("/readyz").json()["content_version"]
    edit(path, "older_age: 65", "older_age: 90")
    assert app_client.post("/admin/reload-content").status_code == 422
    ready = app_client.get("/readyz")
    body = ready.json()
    assert ready.status_code == 200 and body["status"] == "degraded" and body["content_version"] == version
    assert any(p.startswith(f"{path}:") for p in body["degraded"]["reload_problems"])
