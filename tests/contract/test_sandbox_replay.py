"""Requests captured from the CDS Hooks Sandbox, with its quirks, replayed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.contract.invariants import assert_response_invariants

CAPTURED = sorted((Path(__file__).parent.parent / "data" / "sandbox-requests").glob("*.json"))


@pytest.mark.parametrize("path", CAPTURED, ids=[p.stem for p in CAPTURED])
def test_sandbox_request_gets_200(shared_client: TestClient, path: Path) -> None:
    """Every captured Sandbox request answers 200 with a valid cards response."""
    body = json.loads(path.read_text())
    response = shared_client.post(f"/cds-services/neck-pain-{body['hook']}", json=body)
    assert response.status_code == 200, response.text
    assert_response_invariants(response.json())


def test_captured_requests_are_present() -> None:
    """The three captured Sandbox requests are shipped as fixtures."""
    assert len(CAPTURED) == 3
