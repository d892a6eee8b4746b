"""The feedback endpoint and card recording, over HTTP on the real app with a SQLite store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.feedback import schema
from cds_service.feedback.report import build_report
from cds_service.settings import Settings
from tests.conftest import condition, hook_body, patient, running_app, service_order, topics

SERVICE = "/cds-services/neck-pain-order-select"
FEEDBACK = f"{SERVICE}/feedback"
COMMENT = "Spoke with Jane Roe (MRN QX-PRIVATE-7731), she has had PT already"


def mri_request() -> dict[str, Any]:
    """An MRI order for one week of neck pain (M54.2): imaging and PT cards."""
    return hook_body(
        [patient(45), condition("M54.2", "Cervicalgia", onset_days=7)],
        [service_order("72141", "MRI cervical spine without contrast")],
    )


def call_hook(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request and the response JSON of one hook call, after its cards were written."""
    body = mri_request()
    response = client.post(SERVICE, json=body)
    assert response.status_code == 200
    flush(client)
    return body, response.json()


def flush(client: TestClient) -> None:
    client.portal.call(client.app.state.feedback.recorder.flush)  # type: ignore[attr-defined,union-attr]


def rows(client: TestClient, table: Any) -> list[Any]:
    with client.app.state.feedback.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(conn.execute(select(table)))


def overridden(card: dict[str, Any], when: str = "2025-03-01T10:00:00Z", **extra: Any) -> dict[str, Any]:
    reason = card["overrideReasons"][0]
    return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": when,
            "overrideReason": {"reason": reason, "userComment": COMMENT}} | extra


def assert_operation_outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"]
    return dict(body)


def test_every_served_card_is_recorded(client: TestClient) -> None:
    """After a hook call each card is stored with its rule, service, hookInstance, indicator and content version."""
    request, response = call_hook(client)
    stored = {r.card_uuid: r for r in rows(client, schema.served_cards)}
    assert set(stored) == {c["uuid"] for c in response["cards"]} and len(stored) >= 2
    for card in response["cards"]:
        row = stored[card["uuid"]]
        assert row.rule_id == card["source"]["topic"]["code"]
        assert row.indicator == card["indicator"]
        assert (row.service_id, row.hook_instance) == ("neck-pain-order-select", request["hookInstance"])
        assert row.content_version == client.app.state.content.current.version  # type: ignore[attr-defined]


def test_feedback_round_trip(client: TestClient) -> None:
    """Overridden and accepted feedback on served cards answers 200 {} and is stored field by field."""
    _, response = call_hook(client)
    imaging = next(c for c in response["cards"] if c["source"]["topic"]["code"] == "imaging-without-red-flags")
    pt = next(c for c in response["cards"] if c is not imaging)
    accepted = {"card": pt["uuid"], "outcome": "accepted", "outcomeTimestamp": "2025-03-01T10:01:00Z",
                "acceptedSuggestions": [{"id": "suggestion-1"}]}
    answer = client.post(FEEDBACK, json={"feedback": [overridden(imaging), accepted]})
    assert (answer.status_code, answer.json()) == (200, {})
    stored = {r.card_uuid: r for r in rows(client, schema.feedback)}
    reason = imaging["overrideReasons"][0]
    assert (stored[imaging["uuid"]].override_code, stored[imaging["uuid"]].override_display) == (
        reason["code"], reason["display"],
    )
    assert stored[imaging["uuid"]].user_comment == COMMENT
    assert stored[pt["uuid"]].accepted_suggestions == ["suggestion-1"]
    report = {r.rule_id: r for r in build_report(client.app.state.feedback.store.engine)}  # type: ignore[attr-defined]
    assert (report["imaging-without-red-flags"].shown, report["imaging-without-red-flags"].overridden) == (1, 1)
    assert report["imaging-without-red-flags"].top_reasons[0].code == reason["code"]


def test_resent_feedback_is_stored_once(client: TestClient) -> None:
    """The same item (card, outcome, outcomeTimestamp) sent twice answers 200 both times and is stored once."""
    _, response = call_hook(client)
    item = overridden(response["cards"][0])
    assert client.post(FEEDBACK, json={"feedback": [item]}).status_code == 200
    assert client.post(FEEDBACK, json={"feedback": [item, item]}).status_code == 200
    assert len(rows(client, schema.feedback)) == 1


def test_accepted_without_suggestions_is_400(client: TestClient) -> None:
    """cds-fb-2: an accepted outcome without acceptedSuggestions is a 400 OperationOutcome; nothing is stored."""
    item = {"card": "c-1", "outcome": "accepted", "outcomeTimestamp": "2025-03-01T10:00:00Z"}
    outcome = assert_operation_outcome(client.post(FEEDBACK, json={"feedback": [item]}), 400)
    assert "cds-fb-2" in outcome["issue"][0]["diagnostics"]
    assert rows(client, schema.feedback) == []


def test_bare_coding_override_reason_is_accepted(client: TestClient) -> None:
    """An overrideReason sent as a bare Coding (older clients) is stored as the reason."""
    item = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-01T10:00:00Z",
            "overrideReason": {"system": "urn:reasons", "code": "pt-elsewhere", "display": "PT elsewhere"}}
    assert client.post(FEEDBACK, json={"feedback": [item]}).status_code == 200
    [row] = rows(client, schema.feedback)
    assert (row.override_system, row.override_code, row.user_comment) == ("urn:reasons", "pt-elsewhere", None)


def test_feedback_for_an_unknown_card_is_stored(client: TestClient) -> None:
    """Feedback on a card this store never served (another replica, a reset database) answers 200 and is kept."""
    item = {"card": "9b0e7c1e-0000-4000-8000-000000000000", "outcome": "overridden",
            "outcomeTimestamp": "2025-03-01T10:00:00Z"}
    assert client.post(FEEDBACK, json={"feedback": [item]}).status_code == 200
    assert [r.card_uuid for r in rows(client, schema.feedback)] == [item["card"]]


def test_unknown_service_is_404(client: TestClient) -> None:
    """Feedback to a service id this server does not offer answers 404 with an OperationOutcome."""
    item = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-01T10:00:00Z"}
    assert_operation_outcome(client.post("/cds-services/no-such-service/feedback", json={"feedback": [item]}), 404)


@pytest.mark.parametrize(
    "content", [b"{not json", b"[]", b'{"feedback": []}', b'{"feedback": [{"card": "c-1"}]}'],
)
def test_malformed_feedback_is_400(client: TestClient, content: bytes) -> None:
    """Bodies that are not JSON, not an object, or without valid items answer 400 OperationOutcome."""
    response = client.post(FEEDBACK, content=content, headers={"content-type": "application/json"})
    assert_operation_outcome(response, 400)


def test_user_comment_never_reaches_logs_or_errors(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """The free-text comment is stored but appears in no log record and in no 400 answer."""
    _, response = call_hook(client)
    with caplog.at_level(logging.DEBUG):
        assert client.post(FEEDBACK, json={"feedback": [overridden(response["cards"][0])]}).status_code == 200
        broken = overridden(response["cards"][1], when="not a time")
        rejected = client.post(FEEDBACK, json={"feedback": [broken]})
    assert rejected.status_code == 400 and "Jane Roe" not in rejected.text
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "feedback received" in logged
    assert "Jane Roe" not in logged and "QX-PRIVATE-7731" not in logged


def test_database_failure_on_feedback_is_503(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A failing database answers 503 (the client may resend) without echoing the comment."""
    store = client.app.state.feedback.store  # type: ignore[attr-defined]

    def fail(*_: Any, **__: Any) -> int:
        raise RuntimeError(f"insert failed for {COMMENT}")

    monkeypatch.setattr(store, "record_feedback", fail)
    item = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-01T10:00:00Z",
            "overrideReason": {"userComment": COMMENT}}
    with caplog.at_level(logging.INFO):
        response = client.post(FEEDBACK, json={"feedback": [item]})
    assert_operation_outcome(response, 503)
    assert "Jane Roe" not in response.text
    assert "Jane Roe" not in " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert any(r.getMessage() == "feedback not stored" for r in caplog.records)


def test_database_failure_on_card_recording_keeps_the_hook_response(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When served cards cannot be written the hook still answers 200 with its cards and the loss is logged."""
    store = client.app.state.feedback.store  # type: ignore[attr-defined]
    client.app.state.feedback.recorder.retry_delay = 0  # type: ignore[attr-defined]

    def fail(*_: Any) -> None:
        raise ConnectionError("database is down")

    monkeypatch.setattr(store, "record_calls", fail)
    with caplog.at_level(logging.ERROR, logger="cds_service.feedback.recorder"):
        response = client.post(SERVICE, json=mri_request())
        flush(client)
    assert response.status_code == 200 and set(topics(response.json())) >= {"imaging-without-red-flags"}
    [lost] = [r for r in caplog.records if r.getMessage() == "served cards not recorded"]
    assert getattr(lost, "cards") == len(response.json()["cards"])
    assert client.app.state.feedback.recorder.lost == len(response.json()["cards"])  # type: ignore[attr-defined]


def test_feedback_requires_client_authentication(settings: Settings, tmp_path: Path) -> None:
    """With authentication required, feedback without a JWT is 401 and with a valid one is 200."""
    key = SigningKey.generate("ES384")
    write_jwks(tmp_path / "jwks.json", key)
    (tmp_path / "issuers.yaml").write_text("issuers:\n  - iss: https://ehr.example.org\n    jwks_file: jwks.json\n")
    secure = settings.model_copy(update={"auth_mode": "required", "auth_issuers_file": tmp_path / "issuers.yaml"})
    item = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-01T10:00:00Z"}
    with running_app(secure) as secured:
        assert secured.post(FEEDBACK, json={"feedback": [item]}).status_code == 401
        token = client_token(key, iss="https://ehr.example.org", aud=f"http://testserver{FEEDBACK}")
        answer = secured.post(FEEDBACK, json={"feedback": [item]}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200


def test_store_is_created_at_start_up(settings: Settings) -> None:
    """Starting the app creates and migrates the SQLite file named by feedback_db_url."""
    path = Path(settings.feedback_db_url.removeprefix("sqlite:///"))
    assert not path.exists()
    with TestClient(create_app(settings)):
        assert path.exists()
