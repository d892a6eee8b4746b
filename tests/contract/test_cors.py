"""CORS for browser clients such as the CDS Hooks Sandbox."""

from __future__ import annotations

from fastapi.testclient import TestClient

SANDBOX = "https://sandbox.cds-hooks.org"


def preflight(client: TestClient, origin: str, private: bool = False):
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    if private:
        headers["Access-Control-Request-Private-Network"] = "true"
    return client.options("/cds-services/neck-pain-order-select", headers=headers)


def test_sandbox_preflight_allows_authorization_and_content_type(shared_client: TestClient) -> None:
    """The Sandbox origin may send Authorization and Content-Type."""
    response = preflight(shared_client, SANDBOX)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SANDBOX
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_private_network_preflight_is_allowed_for_configured_origin(shared_client: TestClient) -> None:
    """Chrome's private-network preflight from the Sandbox is answered with Allow-Private-Network."""
    response = preflight(shared_client, SANDBOX, private=True)
    assert response.status_code == 200
    assert response.headers["access-control-allow-private-network"] == "true"


def test_localhost_origin_is_allowed(shared_client: TestClient) -> None:
    """A locally run Sandbox on localhost may call the service."""
    response = preflight(shared_client, "http://localhost:3000")
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_unknown_origin_is_refused(shared_client: TestClient) -> None:
    """Other origins' preflights, private network included, are refused with no origin grant."""
    response = preflight(shared_client, "https://evil.example", private=True)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_simple_request_carries_allow_origin(shared_client: TestClient) -> None:
    """An actual GET from the Sandbox carries Access-Control-Allow-Origin."""
    response = shared_client.get("/cds-services", headers={"Origin": SANDBOX})
    assert response.headers["access-control-allow-origin"] == SANDBOX
