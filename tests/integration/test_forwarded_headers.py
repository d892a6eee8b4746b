"""On the real server (uvicorn): a token minted for another service is refused whatever Host and
X-Forwarded-* headers the client sends; the scheme follows X-Forwarded-Proto only from configured proxies."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.fixtures import hook_request
from tests.integration.service_process import running_service

pytestmark = pytest.mark.integration

ISS = "https://ehr.example.org"
PATH = "/cds-services/neck-pain-order-select"


def test_audience_and_code_system_ignore_client_host_and_forwarded_headers(tmp_path: Path) -> None:
    """A JWT for https://other.example is refused with Host/X-Forwarded-* naming it; one for the address called is accepted and the cards name that address."""
    key = SigningKey.generate("ES384")
    write_jwks(tmp_path / "jwks.json", key)
    (tmp_path / "issuers.yaml").write_text(f"issuers:\n  - iss: {ISS}\n    jwks_file: jwks.json\n")
    env = {"CDS_AUTH_MODE": "required", "CDS_AUTH_ISSUERS_FILE": str(tmp_path / "issuers.yaml")}
    with running_service(tmp_path, **env) as service:
        port = service.url.rsplit(":", 1)[1]
        spoofed = {"Host": f"other.example:{port}", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example"}
        for aud in (f"https://other.example:{port}{PATH}", f"https://127.0.0.1:{port}{PATH}"):
            token = client_token(key, iss=ISS, aud=aud)
            headers = {**spoofed, "Authorization": f"Bearer {token}"}
            refused = httpx.post(service.url + PATH, json=hook_request("v2-order-select"), headers=headers, timeout=20)
            assert refused.status_code == 401, aud
        token = client_token(key, iss=ISS, aud=f"http://localhost:{port}{PATH}")
        headers = {**spoofed, "Authorization": f"Bearer {token}"}
        accepted = httpx.post(service.url + PATH, json=hook_request("v2-order-select"), headers=headers, timeout=20)
    assert accepted.status_code == 200
    systems = {card["source"]["topic"]["system"] for card in accepted.json()["cards"]}
    assert systems == {f"http://127.0.0.1:{port}/rules"}
