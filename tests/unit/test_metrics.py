"""Prometheus metrics at /metrics and readiness at /readyz, on the real app."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cds_service.app import create_app
from cds_service.observability.metrics import Metrics
from cds_service.settings import BUNDLED_CONTENT_DIR, Settings
from tests.conftest import bearer_authorization, condition, hook_body, patient, running_app, service_order

URL = "/cds-services/neck-pain-order-select"
FHIR = "https://fhir.example.org/r4"


def mri_request() -> dict[str, Any]:
    return hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")])


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics as (name, labels) → value."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(all_samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return all_samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_per_route_service_and_status(client: TestClient) -> None:
    """Hook calls are counted and timed with the route template, service id and status; unknown ids are bounded."""
    assert client.post(URL, json=mri_request()).status_code == 200
    assert client.post(URL, json={"hook": "order-select"}).status_code == 400
    assert client.post("/cds-services/MRN-12345", json=mri_request()).status_code == 404
    got = samples(client)
    route = "/cds-services/{service_id}"
    assert value(got, "cds_http_requests_total", route=route, service_id="neck-pain-order-select", status="200") == 1
    assert value(got, "cds_http_requests_total", route=route, service_id="neck-pain-order-select", status="400") == 1
    assert value(got, "cds_http_requests_total", route=route, service_id="unknown", status="404") == 1
    assert value(got, "cds_http_request_duration_seconds_count", route=route, service_id="neck-pain-order-select", status="200") == 1
    assert not any("MRN-12345" in str(labels) for _, labels in got)


def test_cards_are_counted_per_rule_id_and_indicator(client: TestClient) -> None:
    """Each card sent counts once under its rule id and indicator, mode active."""
    cards = client.post(URL, json=mri_request()).json()["cards"]
    got = samples(client)
    assert cards
    for card in cards:
        rule_id = card["source"]["topic"]["code"]
        assert value(got, "cds_cards_total", rule_id=rule_id, indicator=card["indicator"], mode="active") == 1


def test_imaging_ratings_and_held_repeats_are_counted(settings: Settings) -> None:
    """Each spine imaging order counts under its rating (unrated when it could not be rated); a card held back at signing counts under its rule."""
    with running_app(settings.model_copy(update={"card_repeat_window_seconds": 600})) as client:
        count_ratings_and_repeats(client)


def count_ratings_and_repeats(client: TestClient) -> None:
    rated = mri_request()
    unreadable = mri_request()
    del unreadable["prefetch"]["observations"]  # red flags cannot be excluded: unrated
    for body in (rated, unreadable):
        assert client.post(URL, json=body).status_code == 200
    signed = hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")], hook="order-sign")
    assert client.post("/cds-services/neck-pain-order-sign", json=signed).status_code == 200
    got = samples(client)
    assert value(got, "cds_imaging_orders_rated_total", rating="not-appropriate") == 2
    assert value(got, "cds_imaging_orders_rated_total", rating="unrated") == 1
    assert value(got, "cds_cards_repeat_held_total", rule_id="imaging-without-red-flags") == 1


def test_shadow_findings_are_counted_but_not_sent(settings: Settings, tmp_path: Path) -> None:
    """A rule in shadow mode sends no card but is counted with mode=shadow and its would-be indicator."""
    cards = tmp_path / "cards"
    shutil.copytree(BUNDLED_CONTENT_DIR, cards)
    path = cards / "imaging-without-red-flags.yaml"
    path.write_text(path.read_text().replace("mode: active", "mode: shadow", 1))
    with TestClient(create_app(settings.model_copy(update={"content_dir": cards}))) as client:
        sent = {c["source"]["topic"]["code"] for c in client.post(URL, json=mri_request()).json()["cards"]}
        got = samples(client)
    assert "imaging-without-red-flags" not in sent
    shadow = {dict(labels)["indicator"] for name, labels in got if name == "cds_cards_total" and ("mode", "shadow") in labels}
    assert len(shadow) == 1 and shadow <= {"info", "warning", "critical"}
    assert value(got, "cds_cards_total", rule_id="imaging-without-red-flags", indicator=shadow.pop(), mode="shadow") == 1


def test_fhir_fallback_calls_are_counted_per_outcome(client: TestClient) -> None:
    """Fallback calls count as ok or by failure reason, per operation and resource type; prefetch gaps by key."""
    body = mri_request()
    body["fhirServer"], body["fhirAuthorization"] = FHIR, bearer_authorization("fallback-token")
    for key in ("conditions", "procedures", "observations"):
        body["prefetch"].pop(key)
    with respx.mock(assert_all_called=True) as mock:
        mock.get(url__startswith=f"{FHIR}/Condition").respond(200, json={"resourceType": "Bundle", "type": "searchset"})
        mock.get(url__startswith=f"{FHIR}/Procedure").respond(503)
        mock.get(url__startswith=f"{FHIR}/Observation").mock(side_effect=httpx.ReadTimeout("slow"))
        assert client.post(URL, json=body).status_code == 200
    got = samples(client)
    assert value(got, "cds_fhir_fallback_requests_total", operation="search", resource_type="Condition", outcome="ok") == 1
    assert value(got, "cds_fhir_fallback_requests_total", operation="search", resource_type="Procedure", outcome="server-error") == 1
    assert value(got, "cds_fhir_fallback_requests_total", operation="search", resource_type="Observation", outcome="timeout") == 1
    assert value(got, "cds_prefetch_unavailable_total", key="procedures", reason="server-error") == 1
    assert value(got, "cds_prefetch_unavailable_total", key="observations", reason="timeout") == 1


def test_fallback_cut_by_the_deadline_counts_as_deadline(settings: Settings) -> None:
    """A FHIR call still running at the prefetch deadline is cancelled and counted with outcome deadline."""
    import asyncio

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"resourceType": "Bundle"})

    body = mri_request()
    body["fhirServer"], body["fhirAuthorization"] = FHIR, bearer_authorization("fallback-token")
    body["prefetch"].pop("procedures")
    fast = settings.model_copy(update={"prefetch_deadline_seconds": 0.2})
    with respx.mock(assert_all_called=False) as mock, TestClient(create_app(fast)) as client:  # cancelled: not marked called
        mock.get(url__startswith=f"{FHIR}/Procedure").mock(side_effect=slow)
        assert client.post(URL, json=body).status_code == 200
        got = samples(client)
    assert value(got, "cds_fhir_fallback_requests_total", operation="search", resource_type="Procedure", outcome="deadline") == 1
    assert value(got, "cds_prefetch_unavailable_total", key="procedures", reason="timeout") == 1


def test_content_reloads_and_version_are_exposed(settings: Settings, tmp_path: Path) -> None:
    """Successful and rejected reloads are counted and the serving version is an info metric."""
    cards = tmp_path / "cards"
    shutil.copytree(BUNDLED_CONTENT_DIR, cards)
    app = create_app(settings.model_copy(update={"content_dir": cards}))
    with TestClient(app) as client:
        first = app.state.content.current.version
        path = cards / "bed-rest.yaml"
        text = path.read_text()
        path.write_text(text + "\n# edited\n")
        assert app.state.content.reload() is True
        path.write_text("rule: [broken\n")
        assert app.state.content.reload() is False
        got = samples(client)
        version = app.state.content.current.version
    assert value(got, "cds_content_reloads_total", result="success") == 1
    assert value(got, "cds_content_reloads_total", result="failure") == 1
    assert value(got, "cds_content_info", version=version) == 1
    assert version != first


class Store:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    async def ping(self) -> bool:
        if not self.ok:
            raise ConnectionError("database down")
        return True


@pytest.mark.parametrize("reachable", [True, False])
def test_readiness_follows_the_feedback_store(client: TestClient, reachable: bool) -> None:
    """/readyz is 200 with storage reachable and 503 naming the check when not; cds_ready follows."""
    state = client.app.state  # type: ignore[attr-defined]
    real, state.feedback = state.feedback, Store(reachable)
    try:
        response = client.get("/readyz")
        ready = value(samples(client), "cds_ready")
    finally:
        state.feedback = real
    body = response.json()
    assert response.status_code == (200 if reachable else 503)
    assert body["checks"] == {"content": True, "feedback": reachable}
    assert body["status"] == ("ready" if reachable else "not-ready") and body["rules"] > 0
    assert ready == (1 if reachable else 0)


def test_readiness_queries_the_real_feedback_database(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the app's own feedback store the database is queried: reachable → 200, failing connect → 503."""
    assert client.get("/readyz").json()["checks"] == {"content": True, "feedback": True}

    def refuse() -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(client.app.state.feedback.store.engine, "connect", refuse)  # type: ignore[attr-defined]
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["feedback"] is False


def test_request_counts_add_up_per_label_set() -> None:
    """Each label set keeps its own count across calls, and repeated label values reuse one child."""
    metrics = Metrics(process=False)
    for status in (200, 200, 400):
        metrics.observe_request("/cds-services/{service_id}", "neck-pain-order-select", status, 0.01)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    counts = {s.labels["status"]: s.value for s in families["cds_http_requests"].samples if s.name.endswith("_total")}
    assert counts == {"200": 2.0, "400": 1.0}
    assert metrics._requests("a", "b", "200") is metrics._requests("a", "b", "200")
