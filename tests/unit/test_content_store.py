"""ContentStore reloads (atomic swap, rejection keeps the old content) and the admin reload route."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.content.store import ContentStore
from cds_service.settings import BUNDLED_CONTENT_DIR, Settings
from tests.conftest import running_app

RULE = "physical-therapy-first"


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    return Path(shutil.copytree(BUNDLED_CONTENT_DIR, tmp_path / "cards"))


def set_title(cards: Path, old: str, new: str) -> Path:
    path = cards / f"{RULE}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_reload_swaps_in_a_new_content_set(cards: Path) -> None:
    """A valid change is served after reload as a whole new ContentSet; the old object is untouched."""
    store = ContentStore(cards)
    old = store.current
    set_title(cards, "title: Physical therapy first", "title: PT before anything else")
    assert store.reload_if_changed() is True
    assert store.current is not old and store.current.version != old.version
    assert store.current.rules[RULE].content.title == "PT before anything else"
    assert old.rules[RULE].content.title == "Physical therapy first"
    assert store.reload_if_changed() is None  # nothing changed since


def test_rejected_reload_keeps_old_content_and_logs_file_line(cards: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An invalid file is rejected: the previous content keeps serving and the log names file:line."""
    store = ContentStore(cards)
    old = store.current
    path = set_title(cards, "mode: active", "mode: sometimes")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("mode:"))
    with caplog.at_level(logging.ERROR, logger="cds_service.content.store"):
        assert store.reload_if_changed() is False
    assert store.current is old and store.failures == 1
    assert any(p.startswith(f"{path}:{line}: mode") for p in store.last_problems)
    assert f"{path}:{line}:" in caplog.text and "previous content" in caplog.text
    assert store.reload_if_changed() is None  # the same broken files are not reported again and again


def test_unexpected_load_errors_keep_old_content(cards: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load that fails in an unforeseen way (a file vanishing mid-read) is a rejection, not a crash."""
    store = ContentStore(cards)
    old = store.current

    def vanish(directory: Path) -> None:
        raise FileNotFoundError("gone")

    monkeypatch.setattr("cds_service.content.store.load_content", vanish)
    assert store.reload() is False
    assert store.current is old and "FileNotFoundError" in store.last_problems[0]


def test_concurrent_reloads_are_serialised(cards: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two reloads at once never run their loads at the same time."""
    store = ContentStore(cards)
    from cds_service.content import store as store_module

    real, running, overlap = store_module.load_content, [0], []

    def slow_load(directory: Path):  # type: ignore[no-untyped-def]
        running[0] += 1
        overlap.append(running[0])
        try:
            return real(directory)
        finally:
            running[0] -= 1

    monkeypatch.setattr(store_module, "load_content", slow_load)
    threads = [threading.Thread(target=store.reload) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap == [1, 1, 1] and store.reloads == 3


@pytest.fixture
def app_client(settings: Settings, cards: Path) -> Iterator[TestClient]:
    with running_app(settings.model_copy(update={"content_dir": cards})) as client:
        yield client


def test_admin_reload_route_answers_version_or_problems(app_client: TestClient, cards: Path) -> None:
    """POST /admin/reload-content answers 200 with the new version, or 422 with file:line problems."""
    before = app_client.get("/readyz").json()
    set_title(cards, "title: Physical therapy first", "title: PT first")
    ok = app_client.post("/admin/reload-content")
    assert ok.status_code == 200 and ok.json()["reloaded"] is True
    assert ok.json()["content_version"] != before.get("content_version", "")
    path = set_title(cards, "mode: active", "mode: sometimes")
    rejected = app_client.post("/admin/reload-content")
    assert rejected.status_code == 422
    assert rejected.json()["content_version"] == ok.json()["content_version"]
    assert any(p.startswith(f"{path}:") for p in rejected.json()["problems"])


def test_admin_reload_route_needs_client_authentication(settings: Settings, tmp_path: Path) -> None:
    """With authentication required, reloading without a JWT is 401 and with a trusted one is 200."""
    key = SigningKey.generate("ES384")
    write_jwks(tmp_path / "jwks.json", key)
    (tmp_path / "issuers.yaml").write_text("issuers:\n  - iss: https://ehr.example.org\n    jwks_file: jwks.json\n")
    secure = settings.model_copy(update={"auth_mode": "required", "auth_issuers_file": tmp_path / "issuers.yaml"})
    with running_app(secure) as client:
        assert client.post("/admin/reload-content").status_code == 401
        token = client_token(key, iss="https://ehr.example.org", aud="http://testserver/admin/reload-content")
        assert client.post("/admin/reload-content", headers={"Authorization": f"Bearer {token}"}).status_code == 200
