"""An exception nothing handled is answered 500 by the app itself and logged by type and frames, never its
message (which may echo request content), and never reaches the server to be logged again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import Response

from cds_service.app import create_app
from cds_service.hooks import routes
from tests.conftest import app_settings, condition, hook_body, patient, service_order

MARK = "Quagmirexyz-Zebulonqq"  # stands for request content an exception's message echoes


@pytest.fixture
def raising_client(tmp_path: Path) -> Iterator[TestClient]:
    """The app with a route that raises; the test client raises whatever exception leaves the app."""
    app = create_app(app_settings(tmp_path))

    async def boom(request: Request) -> Response:
        raise KeyError(f"R4.{MARK}Type")

    app.router.add_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client


def assert_internal_error(response: object) -> None:
    assert getattr(response, "status_code") == 500
    assert getattr(response, "headers")["content-type"].startswith("application/fhir+json")
    assert getattr(response, "json")() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": "internal error"}],
    }


def test_unhandled_error_is_answered_and_goes_no_further(raising_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """The 500 OperationOutcome is the app's answer: the exception does not leave the app (the client would raise it)."""
    with caplog.at_level(logging.DEBUG):
        assert_internal_error(raising_client.get("/boom"))
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert getattr(record, "error_type") == "KeyError" and record.exc_info is None and record.exc_text is None
    frames = getattr(record, "frames")
    assert any(frame.startswith("tests/unit/test_error_boundary.py:") and frame.endswith(" boom") for frame in frames)


def test_unhandled_error_message_is_never_logged(raising_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """No log record, its extras or its traceback, holds the exception's message."""
    with caplog.at_level(logging.DEBUG):
        raising_client.get("/boom")
    assert caplog.records and MARK not in caplog.text
    assert all(MARK not in str(vars(r)) for r in caplog.records)


def test_a_hook_call_that_raises_is_a_logged_500(
    raising_client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook call whose handling raises gets the 500 OperationOutcome, its access line says 500, the message is not logged."""

    async def broken(*args: object, **kwargs: object) -> None:
        raise ValueError(f"patient {MARK}")

    monkeypatch.setattr(routes, "handle_hook", broken)
    body = hook_body([patient(), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")])
    with caplog.at_level(logging.DEBUG):
        assert_internal_error(raising_client.post("/cds-services/neck-pain-order-select", json=body))
    assert [getattr(r, "status") for r in caplog.records if r.getMessage() == "request"] == [500]
    assert [getattr(r, "error_type") for r in caplog.records if r.getMessage() == "unhandled error"] == ["ValueError"]
    assert MARK not in caplog.text and all(MARK not in str(vars(r)) for r in caplog.records)
