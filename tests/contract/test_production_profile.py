"""The production profile (``CDS_ENV=production``), metrics off the service port, and readiness of the replay store."""

from __future__ import annotations

from pathlib import Path

import httpx

from cds_service.auth.testing import SigningKey, write_jwks
from cds_service.settings import Settings
from tests.conftest import app_settings, running_app
from tests.processes import free_port


def production_settings(directory: Path, **overrides: object) -> Settings:
    """Production settings with one issuer that lists its FHIR server."""
    write_jwks(directory / "jwks.json", SigningKey.generate("ES384"))
    (directory / "issuers.yaml").write_text(
        "issuers:\n  - iss: https://ehr.example.org\n    jwks_file: jwks.json\n"
        "    fhir_servers: [https://fhir.example.org/r4]\n"
    )
    return app_settings(
        directory, env="production", auth_mode="required", auth_issuers_file=directory / "issuers.yaml",
        public_base_url="https://cds.example.org", fhir_allowed_hosts=["fhir.example.org"], **overrides,
    )  # fmt: skip


def test_production_serves_no_development_pages_or_metrics(tmp_path: Path) -> None:
    """With CDS_ENV=production the preview page, /docs, /openapi.json and /metrics are not served, and localhost is no CORS origin."""
    with running_app(production_settings(tmp_path)) as client:
        for path in ("/preview/", "/docs", "/openapi.json", "/metrics"):
            assert client.get(path).status_code == 404, path
        preflight = client.options(
            "/cds-services", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert client.get("/healthz").status_code == 200


def test_metrics_port_serves_metrics_off_the_service_port(tmp_path: Path) -> None:
    """With CDS_METRICS_PORT set, metrics are served on that port only, not on the service port."""
    port = free_port()
    with running_app(production_settings(tmp_path, metrics_port=port, host="127.0.0.1")) as client:
        assert client.get("/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert scraped.status_code == 200
    assert "cds_http_requests_total" in scraped.text or "cds_ready" in scraped.text


def test_readiness_fails_while_the_redis_replay_store_is_down(tmp_path: Path) -> None:
    """With CDS_REDIS_URL configured and Redis unreachable, /readyz answers 503 naming the replay store."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    with running_app(app_settings(tmp_path, auth_mode="sandbox", redis_url=down)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["replay_store"] is False
