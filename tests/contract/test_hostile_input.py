"""Hostile and malformed requests get a clear 4xx OperationOutcome, never a 500."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import app_settings, condition, hook_body, patient, running_app, service_order

URL = "/cds-services/neck-pain-order-select"
FEEDBACK_URL = "/cds-services/neck-pain-order-select/feedback"
JSON = {"content-type": "application/json"}


def mri_request() -> dict[str, Any]:
    return hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")])


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def raw_nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def assert_4xx(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["diagnostics"]
    return dict(body)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with a 64 KiB body limit (the default limits: ``shared_client``)."""
    with running_app(app_settings(tmp_path_factory.mktemp("hostile"), max_body_bytes=65_536)) as c:
        yield c


def chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    yield b'{"hook": "order-select", "padding": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


@pytest.mark.parametrize("url", [URL, FEEDBACK_URL])
def test_chunked_body_over_the_limit_is_413(small: TestClient, url: str) -> None:
    """A chunked body with no Content-Length is cut off at the limit while streaming: 413."""
    response = small.post(url, content=chunks(200_000), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_4xx(response, 413)


def test_declared_length_over_the_limit_is_413_without_reading(small: TestClient) -> None:
    """A Content-Length over the limit is refused at once with 413."""
    assert_4xx(small.post(URL, content=b"{" + b" " * 70_000 + b"}", headers=JSON), 413)


def test_chunked_body_under_the_limit_is_read(small: TestClient) -> None:
    """A chunked body under the limit is read whole and answered normally."""
    body = json.dumps(mri_request()).encode()
    response = small.post(URL, content=iter([body[:100], body[100:]]), headers=JSON)
    assert response.status_code == 200 and "cards" in response.json()


@pytest.mark.parametrize("depth", [2_000, 10_000, 100_000])
def test_deeply_nested_json_is_400(shared_client: TestClient, depth: int) -> None:
    """Arrays nested thousands deep exceed the JSON parser's depth limit: 400, not a crash."""
    assert_4xx(shared_client.post(URL, content=raw_nested(depth), headers=JSON), 400)


@pytest.mark.parametrize("where", ["draft", "prefetch", "context", "extension"])
def test_nesting_within_parser_limits_is_answered_without_a_crash(shared_client: TestClient, where: str) -> None:
    """Nesting the parser accepts (900 levels) is a 400 where it would be walked, else ignored: never a 500."""
    body = mri_request()
    deep = nested(900)
    if where == "draft":
        body["context"]["draftOrders"]["entry"][0]["resource"]["note"] = deep
    elif where == "prefetch":
        body["prefetch"]["conditions"]["entry"][0]["resource"]["note"] = deep
    elif where == "extension":
        body["extension"] = {"x": deep}
    else:
        body["context"]["userId"] = deep
    response = shared_client.post(URL, content=json.dumps(body).encode(), headers=JSON)
    if where == "context":
        assert "userId" in json.dumps(assert_4xx(response, 400))
    elif response.status_code == 400:  # a resource the rules read and validation had to walk
        assert "nests too deeply" in json.dumps(assert_4xx(response, 400))
    else:
        assert response.status_code == 200 and response.json()["cards"]


def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = mri_request()
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


WRONG_TYPES = [
    (("hook",), 5),
    (("hook",), None),
    (("hookInstance",), 12345),
    (("hookInstance",), "not-a-uuid"),
    (("context",), []),
    (("context",), "ctx"),
    (("context", "patientId"), 5),
    (("context", "patientId"), ["p1"]),
    (("context", "patientId"), "../../etc/passwd"),
    (("context", "userId"), {}),
    (("context", "selections"), "ServiceRequest/o1"),
    (("context", "selections"), [5]),
    (("context", "selections"), []),
    (("context", "draftOrders"), []),
    (("context", "draftOrders"), {"resourceType": "Patient"}),
    (("context", "draftOrders", "entry"), {}),
    (("context", "draftOrders", "entry"), [5, "x", None]),
    (("prefetch",), []),
    (("prefetch",), "x"),
    (("prefetch", "conditions"), 5),
    (("prefetch", "patient"), "Patient/p1"),
    (("fhirServer",), 5),
    (("fhirServer",), "ftp://example.org"),
    (("fhirAuthorization",), {"access_token": 5}),
    (("extension",), []),
]


@pytest.mark.parametrize(("path", "value"), WRONG_TYPES, ids=[".".join(map(str, p)) + f"={v!r}"[:30] for p, v in WRONG_TYPES])
def test_wrong_types_are_400_naming_the_field(shared_client: TestClient, path: tuple[Any, ...], value: Any) -> None:
    """A field of the wrong type or shape is a 400 whose issue names the field, never echoing the value."""
    outcome = assert_4xx(shared_client.post(URL, json=mutate(path, value)), 400)
    text = json.dumps(outcome)
    assert path[0] in text or "body" in text or "context" in text
    if isinstance(value, str) and len(value) > 3:
        assert value not in text


SLOPPY_BUT_ACCEPTED = [
    (("prefetch", "conditions"), {"resourceType": "Bundle", "entry": "x"}),
    (("prefetch", "conditions"), {"resourceType": "Bundle", "entry": [1, "a", None, {"resource": 5}]}),
    (("prefetch", "conditions"), {"resourceType": "Bundle", "entry": 5, "link": 7}),
    (("prefetch", "conditions"), {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition"}}], "link": [{"relation": "next", "url": 5}]}),
    (("prefetch", "patient"), {"resourceType": "Patient", "id": "p1", "birthDate": 1970}),
    (("context", "draftOrders", "entry", 0, "resource", "code"), {"coding": "x"}),
    (("context", "draftOrders", "entry", 0, "resource", "code"), {"coding": [1, None, {"code": 5}]}),
    (("context", "draftOrders", "entry", 0, "resource", "resourceType"), 5),
    (("context", "draftOrders", "entry", 0, "resource", "resourceType"), "NoSuchType"),
    (("context", "draftOrders", "entry", 0, "resource"), {"resourceType": "MedicationRequest", "dosageInstruction": [{"timing": {"repeat": {"frequency": 1e308, "period": 1e-308}}}]}),
]


@pytest.mark.parametrize(("path", "value"), SLOPPY_BUT_ACCEPTED, ids=[".".join(map(str, p)) for p, _ in SLOPPY_BUT_ACCEPTED])
def test_bad_resources_inside_prefetch_and_drafts_are_skipped_not_fatal(shared_client: TestClient, path: tuple[Any, ...], value: Any) -> None:
    """Garbage where a FHIR resource should be is skipped: the call still answers 200 or 412 (no Patient)."""
    response = shared_client.post(URL, json=mutate(path, value))
    assert response.status_code in (200, 412), response.text


def test_huge_arrays_are_capped(shared_client: TestClient) -> None:
    """More than 500 selections or draft order entries is a 400 naming the list."""
    body = mri_request()
    body["context"]["selections"] = ["ServiceRequest/o1"] * 501
    assert "selections" in json.dumps(assert_4xx(shared_client.post(URL, json=body), 400))
    body = mri_request()
    body["context"]["draftOrders"]["entry"] = [{"resource": service_order("72141", "MRI", f"o{i}")} for i in range(501)]
    assert "entry" in json.dumps(assert_4xx(shared_client.post(URL, json=body), 400))


def test_many_prefetch_resources_within_the_size_limit_are_answered(shared_client: TestClient) -> None:
    """Thousands of prefetch resources under the body limit are answered normally."""
    body = mri_request()
    entry = body["prefetch"]["conditions"]["entry"]
    body["prefetch"]["conditions"]["entry"] = [copy.deepcopy(entry[0]) for _ in range(5_000)]
    assert shared_client.post(URL, json=body).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b'{"hook": "\xff\xfe"}', b"\xc3\x28", b'{"hook": "order-select", "x": "\xed\xa0\x80"}', b"\x00\x00\x00{", b""],
    ids=["invalid-utf8-in-string", "invalid-utf8", "surrogate", "nul-bytes", "empty"],
)
def test_undecodable_bodies_are_400(shared_client: TestClient, raw: bytes) -> None:
    """Bodies that are not valid UTF-8 JSON are a 400."""
    assert_4xx(shared_client.post(URL, content=raw, headers=JSON), 400)


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null", b"true", b'{"a": NaN}', b"{'a': 1}"])
def test_json_that_is_not_an_object_is_400(shared_client: TestClient, raw: bytes) -> None:
    """A JSON array, string, number, null or invalid JSON-like text is a 400."""
    assert_4xx(shared_client.post(URL, content=raw, headers=JSON), 400)
    assert_4xx(shared_client.post(FEEDBACK_URL, content=raw, headers=JSON), 400)


def test_unknown_fields_are_ignored(shared_client: TestClient) -> None:
    """Unknown fields at every level are accepted and ignored, as the spec requires."""
    body = mri_request()
    body["futureField"] = {"nested": [1, 2, 3]}
    body["context"]["futureContext"] = "x"
    body["context"]["draftOrders"]["futureBundleField"] = True
    body["fhirAuthorization"] = None
    plain = shared_client.post(URL, json=mri_request()).json()
    response = shared_client.post(URL, json=body)
    assert response.status_code == 200
    assert len(response.json()["cards"]) == len(plain["cards"])


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "text/json"],
)
def test_non_json_content_types_are_415(shared_client: TestClient, content_type: str) -> None:
    """A body declared as another media type is a 415 on hook calls and feedback alike."""
    body = json.dumps(mri_request()).encode()
    assert_4xx(shared_client.post(URL, content=body, headers={"content-type": content_type}), 415)
    assert_4xx(shared_client.post(FEEDBACK_URL, content=body, headers={"content-type": content_type}), 415)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/fhir+json", "APPLICATION/JSON", None])
def test_json_content_types_and_none_are_accepted(shared_client: TestClient, content_type: str | None) -> None:
    """JSON media types (any case, with parameters, +json) and a missing Content-Type are read as JSON."""
    headers = {"content-type": content_type} if content_type else {}
    assert shared_client.post(URL, content=json.dumps(mri_request()).encode(), headers=headers).status_code == 200


def test_wrong_methods_and_paths_are_4xx(shared_client: TestClient) -> None:
    """Wrong methods and unknown paths answer 405/404 OperationOutcomes."""
    assert_4xx(shared_client.get(URL), 405)
    assert_4xx(shared_client.put("/cds-services", json={}), 405)
    assert_4xx(shared_client.post("/cds-services/" + "x" * 5000, json=mri_request()), 404)
    assert_4xx(shared_client.get("/nothing/here"), 404)


def test_hostile_feedback_bodies_are_400(shared_client: TestClient) -> None:
    """Feedback with wrong types, deep nesting or an empty list is a 400, never a 500."""
    for body in ({"feedback": []}, {"feedback": "x"}, {"feedback": [5]}, {"feedback": [{"card": 5, "outcome": "accepted"}]}):
        assert_4xx(shared_client.post(FEEDBACK_URL, json=body), 400)
    assert_4xx(shared_client.post(FEEDBACK_URL, content=raw_nested(5_000), headers=JSON), 400)
    deep = {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2024-01-01T00:00:00Z", "extra": nested(900)}]}
    assert shared_client.post(FEEDBACK_URL, content=json.dumps(deep).encode(), headers=JSON).status_code == 200
