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
