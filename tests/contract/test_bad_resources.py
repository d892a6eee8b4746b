"""A bad resource inside a hook request is skipped and logged (type and field path only), never a 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import condition, hook_body, patient, service_order

URL = "/cds-services/neck-pain-order-select"
MARK = "Quagmirexyz-Zebulonqq"  # stands for a patient's name a client put where it does not belong


def mri(**fields: Any) -> dict[str, Any]:
    return {**service_order("72141", "MRI cervical spine without contrast"), **fields}


def call(client: TestClient, orders: list[Any], *resources: dict[str, Any]) -> dict[str, Any]:
    body = hook_body([patient(), condition("M54.2", "Cervicalgia", onset_days=7), *resources], [])
    body["context"]["draftOrders"]["entry"] = orders
    body["context"]["selections"] = ["ServiceRequest/o1"]
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("contained_type", [MARK, "", True, 1.5])
def test_draft_with_a_contained_resource_of_unknown_type_is_skipped(
    shared_client: TestClient, caplog: pytest.LogCaptureFixture, contained_type: Any
) -> None:
    """A draft whose contained resource has an unknown or non-string resourceType is an invalid draft: 200, logged."""
    with caplog.at_level(logging.WARNING):
        answer = call(shared_client, [{"resource": mri(contained=[{"resourceType": contained_type, "id": "x"}])}])
    assert answer["cards"] == []
    assert "skipped invalid resource" in caplog.messages
    assert MARK not in caplog.text


def skipped_drafts(caplog: pytest.LogCaptureFixture) -> list[dict[str, int]]:
    return [getattr(r, "skipped") for r in caplog.records if r.getMessage() == "skipped draft orders"]


@pytest.mark.parametrize("bad_id", [{"a": None}, [None], MARK + "x" * 60, "o 1", "o_1", 5, None])
def test_draft_order_whose_id_is_no_fhir_id_is_skipped_before_any_rule(
    client: TestClient, caplog: pytest.LogCaptureFixture, bad_id: Any
) -> None:
    """At order-sign, an MRI draft whose id is no FHIR id gets no card (none could name it) and leaves readiness alone."""
    order = mri(id=bad_id) if bad_id is not None else {k: v for k, v in mri().items() if k != "id"}
    body = hook_body([patient(), condition("M54.2", "Cervicalgia", onset_days=7)], [order], hook="order-sign")
    with caplog.at_level(logging.WARNING):
        response = client.post("/cds-services/neck-pain-order-sign", json=body)
    assert response.status_code == 200 and response.json()["cards"] == []
    assert skipped_drafts(caplog) == [{"context.draftOrders.entry.resource.id": 1}]
    assert MARK not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and "degraded" not in ready


@pytest.mark.parametrize(
    ("entry", "path"),
    [
        ({}, "context.draftOrders.entry.resource"),
        ({"resource": "ServiceRequest/o1"}, "context.draftOrders.entry.resource"),
        ({"resource": {k: v for k, v in mri().items() if k != "resourceType"}}, "context.draftOrders.entry.resource.resourceType"),
        ({"resource": mri(resourceType=MARK)}, "context.draftOrders.entry.resource.resourceType"),
        ({"resource": mri(resourceType="serviceRequest")}, "context.draftOrders.entry.resource.resourceType"),
    ],
)
def test_unreadable_draft_entries_are_logged_by_field_path(
    shared_client: TestClient, caplog: pytest.LogCaptureFixture, entry: Any, path: str
) -> None:
    """A draft entry with no resource, or a resource whose type names no FHIR type, is skipped with a WARNING naming the field, once per call."""
    with caplog.at_level(logging.WARNING):
        answer = call(shared_client, [entry, entry])
    assert answer["cards"] == []
    assert skipped_drafts(caplog) == [{path: 2}]
    assert MARK not in caplog.text


def test_a_readable_draft_beside_an_unreadable_one_is_evaluated(shared_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """Skipping a bad entry costs that entry only: the valid MRI draft beside it still gets its cards."""
    with caplog.at_level(logging.WARNING):
        answer = call(shared_client, [{}, {"resource": mri()}])
    assert "imaging-without-red-flags" in {c["source"]["topic"]["code"] for c in answer["cards"]}
    assert skipped_drafts(caplog) == [{"context.draftOrders.entry.resource": 1}]


def test_draft_of_a_known_type_that_is_no_order_is_not_logged(shared_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """A valid resource of a type the service does not evaluate (an Encounter) is no bad resource: nothing is logged."""
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "planned", "class": {"code": "AMB"}}
    with caplog.at_level(logging.WARNING):
        call(shared_client, [{"resource": encounter}, {"resource": mri()}])
    assert skipped_drafts(caplog) == []
