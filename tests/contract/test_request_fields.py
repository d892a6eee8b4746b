"""Request fields the service would misread are refused with a 400 naming them: a fhirServer carrying
credentials, a prefetch value that is not a FHIR resource or null."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient

from tests.conftest import bearer_authorization, condition, hook_body, patient, service_order

URL = "/cds-services/neck-pain-order-select"


def mri_request() -> dict[str, Any]:
    return hook_body([patient(), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")])


def issues(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return list(response.json()["issue"])


@pytest.mark.parametrize(
    "server", ["https://alice:s3cretpw@fhir.example.org/r4", "https://alice@fhir.example.org/r4", "http://:s3cretpw@fhir.example.org"]
)
def test_fhir_server_with_credentials_is_400_and_nothing_is_fetched(shared_client: TestClient, mock: respx.MockRouter, server: str) -> None:
    """A fhirServer with user:password@ would send them as Basic auth instead of the token: 400 naming fhirServer, never echoing them, no query sent."""
    body = mri_request()
    body.pop("prefetch")
    body["fhirServer"] = server
    body["fhirAuthorization"] = bearer_authorization("fhir-access-token-XYZ")
    route = mock.route(host="fhir.example.org").respond(200, json={"resourceType": "Bundle", "type": "searchset"})
    [issue] = issues(shared_client.post(URL, json=body))
    assert issue["expression"] == ["fhirServer"] and "credentials" in issue["diagnostics"]
    assert "alice" not in json.dumps(issue) and "s3cretpw" not in json.dumps(issue)
    assert not route.called and not mock.calls


def test_fhir_server_whose_path_holds_an_at_sign_is_accepted(shared_client: TestClient, mock: respx.MockRouter) -> None:
    """An '@' in the path is no credential: the server is queried with the token, as any other."""
    body = mri_request()
    del body["prefetch"]["procedures"]
    body["fhirServer"] = "https://fhir.example.org/r4/@tenant"
    body["fhirAuthorization"] = bearer_authorization("fhir-access-token-XYZ")
    route = mock.get(url__startswith="https://fhir.example.org/r4/@tenant/Procedure").respond(
        200, json={"resourceType": "Bundle", "type": "searchset"}
    )
    assert shared_client.post(URL, json=body).status_code == 200
    assert route.called and route.calls[0].request.headers["authorization"] == "Bearer fhir-access-token-XYZ"


@pytest.mark.parametrize("key", ["patient", "conditions", "medicationRequests", "someOtherKey"])
@pytest.mark.parametrize("value", ["Patient/p1", [{"resourceType": "Patient", "id": "p1"}], 42, True])
def test_prefetch_value_that_is_no_object_is_400_naming_its_key(shared_client: TestClient, key: str, value: Any) -> None:
    """A prefetch value that is neither a JSON object nor null is malformed, whatever the key: 400 naming prefetch.<key>."""
    body = mri_request()
    body["prefetch"][key] = value
    [issue] = issues(shared_client.post(URL, json=body))
    assert issue["expression"] == [f"prefetch.{key}"]
    assert "FHIR resource" in issue["diagnostics"] and "Patient/p1" not in issue["diagnostics"]


def test_prefetch_null_is_still_nothing_found(shared_client: TestClient) -> None:
    """null stays the client's "nothing found": the Patient missing is a 412, the Conditions missing a 200."""
    body = mri_request()
    body["prefetch"]["conditions"] = None
    assert shared_client.post(URL, json=body).status_code == 200
    body["prefetch"]["patient"] = None
    assert shared_client.post(URL, json=body).status_code == 412
