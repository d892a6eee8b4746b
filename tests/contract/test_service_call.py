"""Service calls: status codes, OperationOutcomes and response invariants."""

from __future__ import annotations

import json
import uuid

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_service.fhir.parse import model_class
from tests.conftest import app_settings, bearer_authorization, condition, hook_body, patient, running_app, service_order, topics
from tests.contract.invariants import assert_response_invariants

URL = "/cds-services/neck-pain-order-select"
SIGN_URL = "/cds-services/neck-pain-order-sign"


def mri_request(**kwargs) -> dict:
    return hook_body(
        [patient(45), condition("M54.2", "Cervicalgia", onset_days=7)],
        [service_order("72141", "MRI cervical spine without contrast")],
        **kwargs,
    )


def assert_outcome(response, status: int, *needles: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    model_class("OperationOutcome").model_validate(outcome)
    text = json.dumps(outcome)
    for needle in needles:
        assert needle in text
    return outcome


def test_unknown_service_is_404_with_operation_outcome(shared_client: TestClient) -> None:
    """POST to an unknown service id answers 404 with an OperationOutcome."""
    assert_outcome(shared_client.post("/cds-services/no-such-service", json=mri_request()), 404, "not-found")


def test_invalid_json_is_400(shared_client: TestClient) -> None:
    """A body that is not JSON answers 400 saying so."""
    response = shared_client.post(URL, content=b"{not json", headers={"content-type": "application/json"})
    assert_outcome(response, 400, "not valid JSON")


def test_invalid_utf8_is_400(shared_client: TestClient) -> None:
    """A body with invalid UTF-8 answers 400, not 500."""
    response = shared_client.post(URL, content=b'{"hook": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert_outcome(response, 400)


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        ("hookInstance", lambda b: b.pop("hookInstance")),
        ("hookInstance", lambda b: b.update(hookInstance="not-a-uuid")),
        ("hook", lambda b: b.pop("hook")),
        ("context", lambda b: b.pop("context")),
        ("context.patientId", lambda b: b["context"].pop("patientId")),
        ("context.selections", lambda b: b["context"].pop("selections")),
        ("context.draftOrders", lambda b: b["context"].pop("draftOrders")),
        ("fhirServer", lambda b: b.update(fhirServer="ftp://example")),
    ],
)
def test_malformed_request_names_the_bad_field(shared_client: TestClient, field: str, mutate) -> None:
    """A malformed request answers 400 with an OperationOutcome naming the offending field."""
    body = mri_request()
    mutate(body)
    outcome = assert_outcome(shared_client.post(URL, json=body), 400)
    expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
    assert any(e == field or e.startswith(field) for e in expressions), expressions


def test_fhir_authorization_requires_fhir_server(shared_client: TestClient) -> None:
    """cds-r-1: fhirAuthorization without fhirServer answers 400, and the token is not echoed."""
    body = mri_request()
    body["fhirAuthorization"] = bearer_authorization("secret-token-value")
    response = shared_client.post(URL, json=body)
    assert_outcome(response, 400, "cds-r-1")
    assert "secret-token-value" not in response.text


def test_bad_token_type_does_not_echo_the_token(shared_client: TestClient) -> None:
    """A 400 about fhirAuthorization never repeats the access token."""
    body = mri_request()
    body["fhirServer"] = "http://127.0.0.1:9"
    body["fhirAuthorization"] = {"access_token": "secret-token-value", "token_type": "MAC", "expires_in": 1, "scope": "x", "subject": "y"}
    response = shared_client.post(URL, json=body)
    assert_outcome(response, 400, "fhirAuthorization.token_type")
    assert "secret-token-value" not in response.text


def test_wrong_hook_for_service_is_400(shared_client: TestClient) -> None:
    """An order-sign request sent to the order-select service answers 400."""
    body = mri_request(hook="order-sign")
    assert_outcome(shared_client.post(URL, json=body), 400, "hook")


def test_body_must_be_an_object(shared_client: TestClient) -> None:
    """A JSON array body answers 400."""
    assert_outcome(shared_client.post(URL, json=[1, 2]), 400, "JSON object")


def test_missing_patient_is_412(shared_client: TestClient) -> None:
    """A null Patient prefetch and no FHIR server answers 412: the Patient cannot be obtained."""
    body = mri_request()
    body["prefetch"]["patient"] = None
    assert_outcome(shared_client.post(URL, json=body), 412, "Patient")


def test_absent_prefetch_without_fhir_server_is_412(shared_client: TestClient) -> None:
    """No prefetch and no fhirServer answers 412, never 500."""
    body = mri_request()
    body.pop("prefetch")
    assert_outcome(shared_client.post(URL, json=body), 412)


def test_oversized_body_is_413(client: TestClient, settings) -> None:
    """A body over the configured limit answers 413."""
    body = mri_request()
    body["extension"] = {"padding": "x" * (settings.max_body_bytes + 10)}
    assert_outcome(client.post(URL, content=orjson.dumps(body), headers={"content-type": "application/json"}), 413)


def test_cards_obey_every_response_invariant(shared_client: TestClient) -> None:
    """An MRI for one week of neck pain yields cards that obey the spec's invariants."""
    response = shared_client.post(URL, json=mri_request())
    assert response.status_code == 200
    body = response.json()
    assert_response_invariants(body)
    assert topics(body) == {"imaging-without-red-flags": "warning", "physical-therapy-first": "info"}


def test_rule_code_system_never_follows_the_host_header(shared_client: TestClient, tmp_path) -> None:
    """Each card's rule code system is the public base URL if set, else the address the connection
    arrived at: a client-chosen Host or X-Forwarded-Proto header never changes it."""

    def systems(client: TestClient, **headers: str) -> set[str]:
        body = client.post(URL, json=mri_request(), headers=headers).json()
        return {card["source"]["topic"]["system"] for card in body["cards"]}

    for _ in range(2):  # the second round is answered from the per-connection cache
        assert systems(shared_client, host="cds.one.example") == {"http://testserver/rules"}
        assert systems(shared_client, host="evil.example:8443", x_forwarded_proto="https") == {"http://testserver/rules"}
    with running_app(app_settings(tmp_path, public_base_url="https://cds.example.org/hooks/")) as client:
        assert systems(client, host="cds.one.example") == {"https://cds.example.org/hooks/rules"}


def test_imaging_card_deletes_the_draft_and_creates_a_pt_referral(shared_client: TestClient) -> None:
    """The imaging card suggests deleting the MRI by reference and creating a valid PT referral."""
    body = shared_client.post(URL, json=mri_request()).json()
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "imaging-without-red-flags")
    actions = card["suggestions"][0]["actions"]
    assert {"type": "delete", "resourceId": "ServiceRequest/o1"}.items() <= actions[0].items()
    referral = actions[1]["resource"]
    assert actions[1]["type"] == "create" and referral["resourceType"] == "ServiceRequest"
    assert referral["subject"] == {"reference": "Patient/p1"}
    assert referral["code"]["coding"][0]["code"] == "91251008"
    assert "Condition/c1" in card["detail"]


def test_order_sign_evaluates_every_draft(shared_client: TestClient) -> None:
    """order-sign evaluates all draft orders (no selections)."""
    body = mri_request(hook="order-sign")
    response = shared_client.post(SIGN_URL, json=body)
    assert response.status_code == 200
    assert "imaging-without-red-flags" in topics(response.json())


def test_unselected_orders_are_not_evaluated(shared_client: TestClient) -> None:
    """order-select evaluates only the selected drafts; others are context."""
    body = hook_body(
        [patient(45), condition("M54.2", "Cervicalgia", onset_days=7)],
        [service_order("72141", "MRI cervical spine", "o1"), service_order("99999", "Other", "o2")],
        selections=["ServiceRequest/o2"],
    )
    assert shared_client.post(URL, json=body).json() == {"cards": []}


def test_out_of_scope_patient_gets_no_cards(shared_client: TestClient) -> None:
    """Without neck/upper-back pain on record or a spine-specific order, the service stays silent."""
    body = hook_body(
        [patient(50), condition("I10", "Essential hypertension", onset_days=400)],
        [service_order("97161", "PT evaluation")],
    )
    assert shared_client.post(URL, json=body).json() == {"cards": []}


def test_missing_record_data_silences_imaging_rule(shared_client: TestClient) -> None:
    """When observations could not be read, no card discourages imaging (red flags unknowable)."""
    body = mri_request()
    body["prefetch"].pop("observations")
    response = shared_client.post(URL, json=body)
    assert response.status_code == 200
    assert "imaging-without-red-flags" not in topics(response.json())


def test_invalid_resource_in_prefetch_is_skipped(shared_client: TestClient) -> None:
    """One invalid resource in the prefetch is skipped; the rest still produce cards."""
    body = mri_request()
    body["prefetch"]["conditions"]["entry"].append(
        {"resource": {"resourceType": "Condition", "id": "bad", "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.2"}]}, "onsetDateTime": "not-a-date"}}
    )
    response = shared_client.post(URL, json=body)
    assert response.status_code == 200
    assert "imaging-without-red-flags" in topics(response.json())


def test_hook_instance_must_be_uuid(shared_client: TestClient) -> None:
    """A valid UUID hookInstance is accepted."""
    body = mri_request()
    body["hookInstance"] = str(uuid.uuid4())
    assert shared_client.post(URL, json=body).status_code == 200


def test_no_stack_trace_on_unexpected_error(client: TestClient, monkeypatch) -> None:
    """An unexpected error answers 500 with a bare OperationOutcome, never a stack trace."""
    import cds_service.hooks.routes as routes

    async def boom(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(routes, "handle_hook", boom)
    response = client.post(URL, json=mri_request())
    assert response.status_code == 500
    assert "internal detail" not in response.text and "Traceback" not in response.text
