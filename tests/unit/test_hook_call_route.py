"""Hook calls are served by a plain route ahead of their documented FastAPI route: same answers, same docs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cds_service.hooks.routes import HOOK_CALL_PATH


def test_other_methods_on_a_service_path_are_405_with_allow_post(shared_client: TestClient) -> None:
    """A GET or PUT on a service's path is a 405 OperationOutcome naming POST as the allowed method."""
    for method in ("GET", "PUT"):
        answer = shared_client.request(method, "/cds-services/neck-pain-order-select")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "POST"
        assert answer.json()["resourceType"] == "OperationOutcome"


def test_openapi_still_documents_the_hook_call(shared_client: TestClient) -> None:
    """The OpenAPI document describes POST on the hook-call path with its request body and error answers."""
    operation = shared_client.get("/openapi.json").json()["paths"][HOOK_CALL_PATH]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "400", "404", "412"} <= set(operation["responses"])
