"""The README's first call: a fixture request with its prefetch, posted to a real ``cds-service serve``, gives its cards."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.service_process import running_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI = [sys.executable, "-m", "cds_service"]


def readme_cards() -> list[str]:
    """The card lines the README shows for ``cds-service call v2-order-select``."""
    block = re.search(r"```\n(POST http://127\.0\.0\.1:8000/cds-services/\S+ → \d+ card\(s\)\n(?:  .*\n)+)```", README)
    assert block is not None, "the README shows the output of cds-service call"
    return block.group(1).splitlines()


def test_readme_first_call_gives_the_cards_it_shows(tmp_path: Path) -> None:
    """`call --request-only` posted as the README's curl does, and `call` itself, give the cards the README lists."""
    assert "cds-service call v2-order-select --request-only > request.json" in README
    assert "--data @request.json" in README
    with running_service(tmp_path) as service:
        request = subprocess.run([*CLI, "call", "v2-order-select", "--request-only"], capture_output=True, check=True).stdout
        answer = httpx.post(
            f"{service.url}/cds-services/neck-pain-order-select", content=request, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 200, answer.text
        called = subprocess.run([*CLI, "call", "v2-order-select", "--url", service.url], capture_output=True, text=True, check=True)
    shown = [line.replace("http://127.0.0.1:8000", service.url) for line in readme_cards()]
    assert called.stdout.splitlines() == shown
    wire = [f"  {c['indicator']:<8} {c['source']['topic']['code']:<28} {c['summary']}" for c in answer.json()["cards"]]
    assert wire == shown[1:]


def test_fixture_file_without_prefetch_names_the_key_and_what_to_do(tmp_path: Path) -> None:
    """A fixture request file posted as it is (no prefetch, no fhirServer) gets a 412 naming prefetch.patient and the fix."""
    body = (ROOT / "fhir_fixtures" / "requests" / "v2-order-select.json").read_bytes()
    with running_service(tmp_path) as service:
        answer = httpx.post(
            f"{service.url}/cds-services/neck-pain-order-select", content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 412
    (issue,) = answer.json()["issue"]
    assert issue["expression"] == ["prefetch.patient"]
    assert "no-fhir-server" in issue["diagnostics"] and "send it in prefetch" in issue["diagnostics"]
    assert json.loads(body)["hookInstance"] not in answer.text
