"""No secret or patient datum reaches the logs on any code path, at DEBUG, raw or formatted.

Every request below carries a known access token, client JWT, patient name, identifiers and birth
date. All log records are captured twice: raw (message, every extra field, tracebacks — before
the redaction filter) and as the configured JSON output. Neither may contain any of them.
"""

from __future__ import annotations

import copy
import io
import logging
import shutil
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.fixtures import prefetch_for
from cds_service.observability.logging import configure_logging
from cds_service.observability.redact import _STANDARD
from cds_service.settings import BUNDLED_CONTENT_DIR, Settings
from tests.conftest import bearer_authorization, condition, hook_body, running_app, service_order

URL = "/cds-services/neck-pain-order-select"
FHIR = "https://fhir.example.org/r4"
ACCESS_TOKEN = "fhir-access-token-5f1e9c7d"
PATIENT_ID = "pat-90210x"
MRN = "MRN-77441122"
SSN = "999-12-3456"
FAMILY, GIVEN = "Quagmirexyz", "Zebulonqq"
BIRTH_DATE = "1961-07-23"
ISS = "https://ehr.example.org"
UNTRUSTED = SigningKey.generate("ES384")
CLIENT_JWT = client_token(UNTRUSTED, iss=ISS, aud=f"http://testserver{URL}")
SECRETS = (ACCESS_TOKEN, PATIENT_ID, MRN, SSN, FAMILY, GIVEN, BIRTH_DATE, CLIENT_JWT, CLIENT_JWT.split(".")[1], "?patient=")


def sensitive_patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "name": [{"family": FAMILY, "given": [GIVEN]}],
        "identifier": [{"system": "urn:mrn", "value": MRN}, {"system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN}],
        "birthDate": BIRTH_DATE,
        "gender": "male",
    }


def with_patient(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` about the sensitive patient, with fhirServer and the access token."""
    body = copy.deepcopy(body)
    body["context"]["patientId"] = PATIENT_ID
    body["fhirServer"] = FHIR
    body["fhirAuthorization"] = bearer_authorization(ACCESS_TOKEN, patient=PATIENT_ID)
    return body


def full_request() -> dict[str, Any]:
    cond = condition("M54.2", "Cervicalgia", onset_days=7)
    cond["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    body = hook_body([sensitive_patient(), cond], [service_order("72141", "MRI cervical spine without contrast")])
    body["prefetch"] = prefetch_for([sensitive_patient(), cond])
    return with_patient(body)


class RawCapture(logging.Handler):
    """Renders every record fully — message, all extras, traceback — before any filter runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        text = f"{record.name} {record.getMessage()} {extras!r}"
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)


@pytest.fixture
def logs() -> Iterator[tuple[RawCapture, io.StringIO]]:
    """Logging configured as in production at DEBUG; yields the raw capture and the JSON output."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    configure_logging("DEBUG", json=True)
    output = io.StringIO()
    configured = root.handlers[0]
    assert isinstance(configured, logging.StreamHandler)
    configured.setStream(output)
    raw = RawCapture()
    root.handlers.insert(0, raw)  # first: sees records before the redaction filter rewrites them
    yield raw, output
    configured.close()
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def assert_clean(logs: tuple[RawCapture, io.StringIO]) -> str:
    raw, output = logs
    text = "\n".join(raw.lines) + "\n" + output.getvalue()
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached the logs"
    assert raw.lines, "nothing was logged: the capture is broken"
    return output.getvalue()


def request_lines(output: str) -> list[dict[str, Any]]:
    records = [orjson.loads(line) for line in output.splitlines() if line.strip()]
    return [r for r in records if r["logger"] == "cds_service.access" and r["message"] == "request"]


def post(client: TestClient, body: Any, **kwargs: Any) -> httpx.Response:
    return client.post(URL, content=orjson.dumps(body), headers={"content-type": "application/json", **kwargs})


def test_success_400_404_412_413_log_no_secret(settings: Settings, logs: tuple[RawCapture, io.StringIO]) -> None:
    """Success, malformed, unknown-service, missing-patient and oversized calls log ids only."""
    small = settings.model_copy(update={"max_body_bytes": 20_000})
    with running_app(small) as client:
        ok = post(client, full_request())
        assert ok.status_code == 200 and ok.json()["cards"]
        bad = full_request()
        bad["hookInstance"] = MRN
        bad["context"]["patientId"] = f"{MRN} {SSN}"
        assert post(client, bad).status_code == 400
        broken = client.post(URL, content=f'{{"access_token": "{ACCESS_TOKEN}", "x": {BIRTH_DATE}'.encode())
        assert broken.status_code == 400
        unknown = client.post(f"/cds-services/{MRN}", content=orjson.dumps(full_request()))
        assert unknown.status_code == 404
        no_patient = full_request()
        no_patient.pop("fhirServer"), no_patient.pop("fhirAuthorization")
        no_patient["prefetch"]["patient"] = None
        assert post(client, no_patient).status_code == 412
        huge = full_request()
        huge["extension"] = {"padding": [sensitive_patient()] * 200}
        assert post(client, huge).status_code == 413
    lines = request_lines(assert_clean(logs))
    assert [line["status"] for line in lines] == [200, 400, 400, 404, 412, 413]
    first = lines[0]
    assert first["service_id"] == "neck-pain-order-select" and first["route"] == "/cds-services/{service_id}"
    assert uuid.UUID(first["hook_instance"]) and first["rule_ids"] and first["duration_ms"] > 0
    assert lines[3]["service_id"] == "unknown"


def test_401_logs_no_token(settings: Settings, tmp_path: Path, logs: tuple[RawCapture, io.StringIO]) -> None:
    """Refused client JWTs (untrusted key, garbage, access token as bearer) are not logged."""
    trusted = SigningKey.generate("ES384")
    write_jwks(tmp_path / "jwks.json", trusted)
    (tmp_path / "issuers.yaml").write_text(f"issuers:\n  - iss: {ISS}\n    jwks_file: jwks.json\n")
    secure = settings.model_copy(update={"auth_mode": "required", "auth_issuers_file": tmp_path / "issuers.yaml"})
    with running_app(secure) as client:
        for credential in (CLIENT_JWT, ACCESS_TOKEN, f"{CLIENT_JWT}x"):
            assert post(client, full_request(), Authorization=f"Bearer {credential}").status_code == 401
        assert client.get("/cds-services", headers={"Authorization": f"Bearer {CLIENT_JWT}"}).status_code == 401
    lines = request_lines(assert_clean(logs))
    assert [line["status"] for line in lines] == [401, 401, 401, 401]


def fhir_routes(mock: respx.MockRouter, patient_status: int = 200) -> None:
    """A FHIR server with a readable Patient and every other query failing in a different way."""
    mock.get(f"{FHIR}/Patient/{PATIENT_ID}").respond(patient_status, json=sensitive_patient())
    mock.get(url__startswith=f"{FHIR}/Condition").respond(500, json={"resourceType": "OperationOutcome"})
    mock.get(url__startswith=f"{FHIR}/Procedure").respond(401)
    mock.get(url__startswith=f"{FHIR}/MedicationRequest").mock(side_effect=httpx.ReadTimeout("timed out"))
    mock.get(url__startswith=f"{FHIR}/MedicationStatement").respond(200, content=f"<html>{MRN}</html>".encode())
    mock.get(url__startswith=f"{FHIR}/Observation").respond(302, headers={"Location": f"https://evil.example.com/?patient={PATIENT_ID}"})
    next_page = f"https://evil.example.com/ServiceRequest?patient={PATIENT_ID}&access_token={ACCESS_TOKEN}"
    mock.get(url__startswith=f"{FHIR}/ServiceRequest").respond(
        200, json={"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "next", "url": next_page}]}
    )
    mock.get(url__startswith=f"{FHIR}/ImagingStudy").mock(side_effect=httpx.ConnectError(f"refused {FHIR}/x?patient={PATIENT_ID}"))


def test_fhir_fallback_failures_log_no_secret(settings: Settings, logs: tuple[RawCapture, io.StringIO]) -> None:
    """Fallback queries that fail every which way log resource types and reasons, never URLs or tokens."""
    body = full_request()
    body.pop("prefetch")
    with respx.mock(assert_all_called=False) as mock, running_app(settings) as client:
        fhir_routes(mock)
        assert post(client, body).status_code == 200
        mock.routes.clear()
        fhir_routes(mock, patient_status=404)
        assert post(client, body).status_code == 412
    assert all(call.request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}" for call in mock.calls)
    output = assert_clean(logs)
    assert '"prefetch_unavailable"' in output and "server-error" in output


def test_content_reload_error_logs_no_secret(settings: Settings, tmp_path: Path, logs: tuple[RawCapture, io.StringIO]) -> None:
    """A rejected content reload logs the problems (file and line) and keeps serving; nothing secret is logged."""
    cards = tmp_path / "cards"
    shutil.copytree(BUNDLED_CONTENT_DIR, cards)
    app = create_app(settings.model_copy(update={"content_dir": cards}))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert post(client, full_request()).status_code == 200
        (cards / "imaging-without-red-flags.yaml").write_text("rule: [unclosed\n")
        assert app.state.content.reload() is False
        assert post(client, full_request()).status_code == 200
    output = assert_clean(logs)
    assert "content reload rejected" in output
