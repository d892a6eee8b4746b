"""The hook response's JSON, serialised by the models in one pass, is byte for byte what
``orjson.dumps(CDSResponse.to_wire())`` makes of the same response."""

from __future__ import annotations

import asyncio
import math
import random
import struct
from functools import cache
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_service.content.loader import ContentSet, load_content
from cds_service.fixtures import REQUESTS, fixture_names, hook_request
from cds_service.hooks.handler import handle_hook
from cds_service.preview.simulate import service_for
from cds_service.protocol.models import Action, Card, CDSResponse, CDSRequest, Source, Suggestion
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import condition, hook_body, patient, service_order


@cache
def content() -> ContentSet:
    return load_content(BUNDLED_CONTENT_DIR)


def as_dict_then_json(response: CDSResponse) -> bytes:
    return orjson.dumps(response.to_wire())


@pytest.mark.parametrize("name", fixture_names(REQUESTS))
def test_every_fixture_response_serialises_as_its_dict(name: str) -> None:
    """Each fixture request's response (cards, suggestions, system actions) is the same bytes either way."""
    request = CDSRequest.model_validate(hook_request(name))
    outcome = asyncio.run(handle_hook(service_for(request.hook), request, content(), None, 1.0, "https://cds.example.org"))
    assert outcome.response.wire_json() == as_dict_then_json(outcome.response)


def awkward_resource(rng: random.Random) -> dict[str, Any]:
    """A resource with the values JSON writers disagree on if any: floats, big integers, escapes, None."""
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(200)]
    return {
        "resourceType": "ServiceRequest",
        "floats": [f for f in floats if math.isfinite(f)] + [0.1, 1e16, 1e-7, 1e21, 100.0, -0.0, 5e-324],
        "ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1],
        "text": "é ü 中文 😀 \x00\x01\x1f\x7f \u2028\u2029 \"\\/ \t\n\r\b\f",
        "absent": None,
        "nested": [{"a": None, "b": [None, {"c": True}]}],
    }


def test_awkward_values_serialise_alike() -> None:
    """Floats, 64-bit integers, control and non-ASCII characters, None and an extension give the same bytes either way."""
    rng = random.Random(4)
    for _ in range(20):
        resource = awkward_resource(rng)
        action = Action(type="create", description="Create", resource=resource)
        card = Card(summary="s", indicator="warning", source=Source(label="l"), suggestions=[Suggestion(label="x", actions=[action])], selection_behavior="any")
        system_actions = [{"type": "update", "description": "rated", "resource": resource}]
        for response in (CDSResponse(), CDSResponse(cards=[card]), CDSResponse(cards=[card], system_actions=system_actions, extension={"systemActions": system_actions})):
            assert response.wire_json() == as_dict_then_json(response)


def test_the_hook_route_sends_json(shared_client: TestClient) -> None:
    """A hook call is answered as application/json with the response's own bytes."""
    body = hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine without contrast")])
    answer = shared_client.post("/cds-services/neck-pain-order-select", json=body)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.json()["cards"]
