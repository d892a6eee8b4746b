"""Graceful shutdown of ``cds-service serve``: SIGTERM lets the in-flight request finish."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.commands.load_fixtures import load_fixtures
from cds_service.fixtures import hook_request
from tests.conftest import bearer_authorization
from tests.integration.conftest import FhirServerAdmin
from tests.integration.service_process import running_service

pytestmark = pytest.mark.integration

SLOW_MS = 2_000


def test_in_flight_request_completes_on_sigterm(tmp_path: Path, fhir_server: str, fhir_admin: FhirServerAdmin) -> None:
    """A request still waiting on a slow FHIR server when SIGTERM arrives is answered in full; then the process exits."""
    asyncio.run(load_fixtures(fhir_server, names=["v9-neck-strain"]))
    fhir_admin.add_fault(match={"path": "^Observation"}, delayMs=SLOW_MS)
    body: dict[str, Any] = hook_request("v9b-bed-rest-and-mri", with_prefetch=False)
    body["fhirServer"], body["fhirAuthorization"] = fhir_server, bearer_authorization("shutdown-token")
    result: dict[str, Any] = {}
    env = {"CDS_PREFETCH_DEADLINE_SECONDS": "10", "CDS_SHUTDOWN_GRACE_SECONDS": "15", "CDS_CONTENT_POLL_SECONDS": "0"}
    with running_service(tmp_path, **env) as service:

        def send() -> None:
            try:
                result["response"] = httpx.post(f"{service.url}/cds-services/neck-pain-order-select", json=body, timeout=30)
            except httpx.HTTPError as exc:
                result["error"] = exc

        worker = threading.Thread(target=send)
        worker.start()
        deadline = time.monotonic() + 10
        while not any(r["path"].startswith("/fhir/Observation") for r in fhir_admin.requests()):
            assert time.monotonic() < deadline, "the request never reached the FHIR server"
            time.sleep(0.05)
        service.signal(signal.SIGTERM)
        sent = time.monotonic()
        worker.join(timeout=30)
        code = service.process.wait(timeout=20)
        exited = time.monotonic() - sent
    assert "error" not in result, result.get("error")
    response = result["response"]
    assert response.status_code == 200
    cards = {c["source"]["topic"]["code"] for c in response.json()["cards"]}
    assert cards == {"bed-rest", "imaging-without-red-flags"}  # the slow observations still arrived
    assert code in (0, -signal.SIGTERM) and exited < 15  # uvicorn re-raises the signal once shut down
    assert "Waiting for connections to close" in service.output() or "Shutting down" in service.output()
