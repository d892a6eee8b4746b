"""Client authentication on the real app: discovery and service calls need a valid JWT."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.auth import Authenticator, MemoryReplayStore, sandbox_profile
from cds_service.auth.config import SANDBOX_ISSUER, SANDBOX_JKU
from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.settings import Settings
from tests.conftest import bearer_authorization, running_app
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


def test_token_for_another_service_is_401_whatever_the_host_header(secured: TestClient, key: SigningKey) -> None:
    """A JWT minted for another service is refused even when Host and X-Forwarded-Proto name that service."""
    path = "/cds-services/neck-pain-order-select"
    other = {"Authorization": f"Bearer {client_token(key, iss=ISS, aud='http://other.example' + path)}"}
    spoofed = {**other, "Host": "other.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example"}
    assert secured.post(path, json=mri_request(), headers=spoofed).status_code == 401


def test_sandbox_mode_never_admits_admin_routes(settings: Settings, tmp_path: Path, key: SigningKey) -> None:
    """In sandbox mode a valid Sandbox-signed token opens the CDS Hooks routes but never /admin/reload-content."""
    sandbox = settings.model_copy(update={"auth_mode": "sandbox"})
    with running_app(sandbox) as client:
        app = client.app
        # The same Sandbox profile, with a key of the test's own standing in for the Sandbox's (public) one.
        app.state.authenticator = Authenticator(  # type: ignore[attr-defined]
            "sandbox", [sandbox_profile(write_jwks(tmp_path / "sandbox.json", key))], MemoryReplayStore()
        )

        def sandbox_bearer(path: str) -> dict[str, str]:
            token = client_token(key, iss=SANDBOX_ISSUER, aud=BASE + path, headers={"jku": SANDBOX_JKU})
            return {"Authorization": f"Bearer {token}"}

        assert client.get("/cds-services", headers=sandbox_bearer("/cds-services")).status_code == 200
        response = client.post("/admin/reload-content", headers=sandbox_bearer("/admin/reload-content"))
        assert response.status_code == 401


def test_issuer_may_name_only_its_fhir_servers(settings: Settings, tmp_path: Path, key: SigningKey) -> None:
    """A client whose issuer lists fhir_servers gets 403 for a request naming any other fhirServer, and no query is made."""
    write_jwks(tmp_path / "jwks.json", key)
    (tmp_path / "issuers.yaml").write_text(
        f"issuers:\n  - iss: {ISS}\n    jwks_file: jwks.json\n    fhir_servers: [https://fhir.example.org/r4]\n"
    )
    secure = settings.model_copy(update={"auth_mode": "required", "auth_issuers_file": tmp_path / "issuers.yaml"})
    path = "/cds-services/neck-pain-order-select"
    with running_app(secure) as client, respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith="https://").respond(404)
        for server, status in [("http://169.254.169.254/latest", 403), ("https://fhir.example.org/r4/", 200)]:
            body = {**mri_request(), "fhirServer": server, "fhirAuthorization": bearer_authorization("t")}
            assert client.post(path, json=body, headers=bearer(key, path)).status_code == status
        assert all(call.request.url.host == "fhir.example.org" for call in mock.calls)
