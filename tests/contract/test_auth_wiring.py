"""Client authentication on the real app: discovery and service calls need a valid JWT."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.settings import Settings
from tests.conftest import running_app
from tests.contract.test_service_call import mri_request

ISS = "https://ehr.example.org"
BASE = "http://testserver"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("ES384")


@pytest.fixture
def secured(settings: Settings, tmp_path: Path, key: SigningKey):
    write_jwks(tmp_path / "jwks.json", key)
    (tmp_path / "issuers.yaml").write_text(f"issuers:\n  - iss: {ISS}\n    jwks_file: jwks.json\n")
    secure = settings.model_copy(update={"auth_mode": "required", "auth_issuers_file": tmp_path / "issuers.yaml"})
    with running_app(secure) as client:
        yield client


def bearer(key: SigningKey, path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client_token(key, iss=ISS, aud=BASE + path)}"}


def test_discovery_without_token_is_401(secured: TestClient) -> None:
    """Discovery without a JWT answers 401 with WWW-Authenticate and no detail."""
    response = secured.get("/cds-services")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_discovery_with_valid_token_is_200(secured: TestClient, key: SigningKey) -> None:
    """A JWT signed by a trusted issuer for this URL opens discovery."""
    assert secured.get("/cds-services", headers=bearer(key, "/cds-services")).status_code == 200


def test_service_call_with_valid_token_is_200_and_replay_is_401(secured: TestClient, key: SigningKey) -> None:
    """A service call with a valid JWT succeeds; the same JWT again is a replay and gets 401."""
    path = "/cds-services/neck-pain-order-select"
    headers = bearer(key, path)
    assert secured.post(path, json=mri_request(), headers=headers).status_code == 200
    assert secured.post(path, json=mri_request(), headers=headers).status_code == 401


def test_token_for_another_url_is_401(secured: TestClient, key: SigningKey) -> None:
    """A JWT whose aud is another endpoint is refused."""
    response = secured.post("/cds-services/neck-pain-order-select", json=mri_request(), headers=bearer(key, "/cds-services"))
    assert response.status_code == 401


def test_health_needs_no_token(secured: TestClient) -> None:
    """Liveness is open to the orchestrator."""
    assert secured.get("/healthz").status_code == 200
