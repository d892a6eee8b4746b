"""Content hot reload in a running ``cds-service serve``: poller, admin route, SIGHUP, atomic swaps."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cds_service.fixtures import hook_request
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.integration.service_process import running_service

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "content_fixtures"
SERVICE = "/cds-services/neck-pain-order-select"
IMAGING = "imaging-without-red-flags"
PT = "physical-therapy-first"
TAG = re.compile(r"\[tag-(\w+)\]")


def copy_cards(target: Path) -> Path:
    shutil.copytree(BUNDLED_CONTENT_DIR, target)
    return target


def edit_rule(directory: Path, rule: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """Rewrite a rule's content file with ``change`` applied to its data."""
    path = directory / f"{rule}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")
    return path


def summaries(url: str, client: httpx.Client | None = None) -> dict[str, str]:
    """rule id → card summary for the vignette 2 request (MRI orders: imaging and PT cards)."""
    response = (client or httpx).post(url + SERVICE, json=hook_request("vignette-2", root=FIXTURES), timeout=10)
    assert response.status_code == 200, response.text
    return {c["source"]["topic"]["code"]: c["summary"] for c in response.json()["cards"]}


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_poller_serves_a_changed_summary_and_keeps_old_content_on_an_invalid_file(tmp_path: Path) -> None:
    """An edited summary is served after the poller reloads; an invalid file is logged with file:line and the old content keeps serving."""
    cards = copy_cards(tmp_path / "cards")
    with running_service(tmp_path, CDS_CONTENT_DIR=str(cards), CDS_CONTENT_POLL_SECONDS="0.2") as service:
        before = summaries(service.url)
        assert IMAGING in before and PT in before
        version = httpx.get(service.url + "/readyz").json().get("content_version")

        edit_rule(cards, IMAGING, lambda d: d.update(summary="Edited: imaging seldom helps early neck pain."))
        assert wait_for(lambda: summaries(service.url)[IMAGING] == "Edited: imaging seldom helps early neck pain.")
        assert summaries(service.url)[PT] == before[PT]

        def break_indicator(data: dict[str, Any]) -> None:
            data["summary"] = "This edit must never be served."
            data["reasons"]["early-pain"]["indicator"] = "urgent"

        path = edit_rule(cards, IMAGING, break_indicator)
        line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "indicator: urgent" in text)
        assert wait_for(lambda: f"{path}:{line}:" in service.output()), service.output()[-2000:]
        assert "content reload rejected" in service.output()
        assert summaries(service.url)[IMAGING] == "Edited: imaging seldom helps early neck pain."
        assert httpx.get(service.url + "/readyz").status_code == 200
        assert version is None or httpx.get(service.url + "/readyz").json().get("content_version") != version


def test_admin_route_and_sighup_reload_on_demand(tmp_path: Path) -> None:
    """With polling off, POST /admin/reload-content and SIGHUP each load edited content; a rejected load answers 422 with file:line."""
    cards = copy_cards(tmp_path / "cards")
    with running_service(tmp_path, CDS_CONTENT_DIR=str(cards), CDS_CONTENT_POLL_SECONDS="0") as service:
        before = summaries(service.url)
        edit_rule(cards, IMAGING, lambda d: d.update(summary="Reloaded by the admin route."))
        time.sleep(0.5)
        assert summaries(service.url)[IMAGING] == before[IMAGING]  # no poller: nothing changes by itself

        answer = httpx.post(service.url + "/admin/reload-content", timeout=30)
        assert answer.status_code == 200 and answer.json()["reloaded"] is True
        assert summaries(service.url)[IMAGING] == "Reloaded by the admin route."

        edit_rule(cards, IMAGING, lambda d: d.update(summary="Reloaded by SIGHUP."))
        service.signal(signal.SIGHUP)
        assert wait_for(lambda: summaries(service.url)[IMAGING] == "Reloaded by SIGHUP.")
        assert service.process.poll() is None  # SIGHUP reloads, it does not stop the service

        path = edit_rule(cards, PT, lambda d: d.update(mode="sometimes"))
        line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("mode:"))
        rejected = httpx.post(service.url + "/admin/reload-content", timeout=30)
        assert rejected.status_code == 422 and rejected.json()["reloaded"] is False
        assert any(p.startswith(f"{path}:{line}: mode") for p in rejected.json()["problems"])
        assert summaries(service.url) == {**before, IMAGING: "Reloaded by SIGHUP."}


def tagged_copy(target: Path, tag: str) -> Path:
    """A copy of the bundled cards whose two rules' summaries and the shared footer carry ``[tag-<tag>]``."""
    cards = copy_cards(target)
    for rule in (IMAGING, PT):
        edit_rule(cards, rule, lambda d: d.update(summary=f"[tag-{tag}] " + d["summary"]))
    layout = cards / "_layout.yaml"
    data = yaml.safe_load(layout.read_text(encoding="utf-8"))
    data["detail_footer"] += f"\n[tag-{tag}]\n"
    layout.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return cards


def test_requests_during_reloads_see_old_or_new_content_never_a_mix(tmp_path: Path) -> None:
    """While content flips between two versions, every response's cards (summaries and footers) carry one version's tag."""
    versions = {tag: tagged_copy(tmp_path / f"cards-{tag}", tag) for tag in ("a", "b")}
    link = tmp_path / "cards"
    os.symlink(versions["a"], link)
    body = hook_request("vignette-2", root=FIXTURES)
    seen: list[set[str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                response = client.post(service.url + SERVICE, json=body)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                cards = response.json()["cards"]
                tags = {m for c in cards for m in TAG.findall(c["summary"] + c.get("detail", ""))}
                seen.append(tags)

    with running_service(tmp_path, CDS_CONTENT_DIR=str(link), CDS_CONTENT_POLL_SECONDS="0") as service:
        workers = [threading.Thread(target=hammer) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            for flip in range(4):
                tag = "b" if flip % 2 == 0 else "a"
                swap = tmp_path / "cards.new"
                os.symlink(versions[tag], swap)
                os.replace(swap, link)  # the whole directory changes at once on disk
                answer = httpx.post(service.url + "/admin/reload-content", timeout=30)
                assert answer.status_code == 200, answer.text
                time.sleep(0.3)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=20)
    assert not failures, failures[:3]
    assert len(seen) > 50
    assert all(len(tags) == 1 for tags in seen), [t for t in seen if len(t) != 1][:3]
    assert {next(iter(t)) for t in seen} == {"a", "b"}


def test_poller_refuses_content_that_would_silence_a_safety_card(tmp_path: Path) -> None:
    """A quoted threshold, a template that fails only when rendered, and a deleted rule file are each refused
    with file:line; the Beers warning keeps being served and /readyz says degraded with the problem."""
    cards = copy_cards(tmp_path / "cards")
    relaxant = "muscle-relaxant-older-adult"
    path = cards / f"{relaxant}.yaml"
    original = path.read_text(encoding="utf-8")
    request = hook_request("v4-order-sign")

    def beers_served() -> bool:
        response = httpx.post(service.url + "/cds-services/neck-pain-order-sign", json=request, timeout=10)
        return response.status_code == 200 and relaxant in {c["source"]["topic"]["code"] for c in response.json()["cards"]}

    mutations = [
        (lambda: path.write_text(original.replace("older_age: 65", 'older_age: "65"'), encoding="utf-8"), f"{path}:", "params.older_age"),
        (lambda: path.write_text(original.replace("summary: ", 'summary: "{{ params.older_agee }}" #', 1), encoding="utf-8"), f"{path}:", "older_agee"),
        (lambda: path.unlink(), f"{path}:0:", "has no content file"),
    ]
    with running_service(tmp_path, CDS_CONTENT_DIR=str(cards), CDS_CONTENT_POLL_SECONDS="0.2") as service:
        assert beers_served()
        for mutate, where, what in mutations:
            mutate()
            assert wait_for(lambda where=where, what=what: any(p.startswith(where) and what in p for p in degraded(service.url))), service.output()[-2000:]
            assert beers_served()
            path.write_text(original, encoding="utf-8")
            assert wait_for(lambda: httpx.get(service.url + "/readyz").json()["status"] == "ready")


def degraded(url: str) -> list[str]:
    """The reload problems /readyz lists (none when the content is not degraded)."""
    body = httpx.get(url + "/readyz").json()
    return list(body.get("degraded", {}).get("reload_problems", []))
