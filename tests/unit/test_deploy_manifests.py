"""The Kubernetes example in deploy/kubernetes is consistent with the app, its settings and the Dockerfile."""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.app import create_app
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    """Every manifest document by (kind, name)."""
    out = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


DOCS = documents()
DEPLOYMENT = DOCS[("Deployment", "cds-service")]
POD = DEPLOYMENT["spec"]["template"]["spec"]
CONTAINER = POD["containers"][0]
CONFIG = DOCS[("ConfigMap", "cds-service")]["data"]
SECRET = DOCS[("Secret", "cds-service")]["stringData"]


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    """kubectl apply -k deploys every resource file; the example Secret is created out of band."""
    listed = set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present


def test_every_variable_is_a_setting_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each CDS_* variable in the ConfigMap and Secret names a real setting and is a valid value."""
    fields = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    for name, value in {**CONFIG, **SECRET}.items():
        assert name in fields, f"{name} is not a setting"
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.auth_mode == "required" and settings.redis_url and settings.feedback_db_url.startswith("postgresql")


def test_probes_hit_the_apps_health_routes_on_its_port() -> None:
    """Liveness probes /healthz and readiness /readyz, on the port the service listens on and the image exposes."""
    paths = set(create_app(Settings(content_poll_seconds=0)).openapi()["paths"])
    assert CONTAINER["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    assert CONTAINER["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert CONTAINER["ports"][0]["containerPort"] == int(CONFIG["CDS_PORT"])
    assert re.search(rf"^EXPOSE {CONFIG['CDS_PORT']}$", (ROOT / "Dockerfile").read_text(), re.M)


def test_runs_as_the_images_non_root_user_with_a_read_only_root() -> None:
    """Non-root (the Dockerfile's uid), read-only root filesystem, no privilege escalation, no capabilities."""
    uid = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert uid is not None and POD["securityContext"]["runAsUser"] == int(uid.group(1))
    security = CONTAINER["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True and security["capabilities"]["drop"] == ["ALL"]
    assert CONTAINER["resources"]["limits"] and CONTAINER["resources"]["requests"]


def test_shutdown_fits_the_termination_grace_period() -> None:
    """The pod's grace period covers the preStop pause plus the service's own graceful shutdown."""
    pause = int(CONTAINER["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert POD["terminationGracePeriodSeconds"] > pause + float(CONFIG["CDS_SHUTDOWN_GRACE_SECONDS"])


def test_several_replicas_share_redis_and_one_worker_each() -> None:
    """With more than one replica the replay store is Redis; each pod runs one worker."""
    assert DEPLOYMENT["spec"]["replicas"] > 1 and SECRET["CDS_REDIS_URL"].startswith("redis://")
    assert CONTAINER["command"][-2:] == ["--workers", "1"]


def test_production_profile_behind_tls() -> None:
    """The example runs the production profile, terminates TLS at an Ingress for the public URL's host, and exposes no metrics port."""
    settings = Settings(**{name.removeprefix("CDS_").lower(): value for name, value in CONFIG.items()
                           if name not in ("CDS_AUTH_ISSUERS_FILE",)})  # fmt: skip
    assert settings.production and settings.metrics_port
    host = urlsplit(settings.public_base_url or "").hostname
    ingress = DOCS[("Ingress", "cds-service")]["spec"]
    assert [tls["hosts"] for tls in ingress["tls"]] == [[host]] and ingress["tls"][0]["secretName"]
    assert [rule["host"] for rule in ingress["rules"]] == [host]
    service_ports = DOCS[("Service", "cds-service")]["spec"]["ports"]
    assert [port["targetPort"] for port in service_ports] == ["http"]
    issuers = yaml.safe_load(DOCS[("ConfigMap", "cds-service-issuers")]["data"]["issuers.yaml"])["issuers"]
    assert all(issuer.get("fhir_servers") for issuer in issuers)
