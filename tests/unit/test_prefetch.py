"""Prefetch resolution: templates, supplied values, fallback queries, errors and the deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
import respx

from cds_service.fhir.client import FhirClient
from cds_service.protocol.models import CDSRequest
from cds_service.hooks.prefetch import PrefetchResult, render_template, resolve_prefetch
from tests.conftest import bearer_authorization

pytestmark = pytest.mark.anyio

BASE = "https://ehr.example.org/fhir"
TOKEN = "secret-access-token-value"
PATIENT_ID = "pt-4711"
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
}


def make_request(
    prefetch: dict[str, Any] | None = None,
    *,
    fhir_server: str | None = BASE,
    token: str | None = TOKEN,
    **context: Any,
) -> CDSRequest:
    body: dict[str, Any] = {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": PATIENT_ID, "userId": "Practitioner/dr-1", **context},
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if token is not None:
        body["fhirAuthorization"] = bearer_authorization(token)
    if prefetch is not None:
        body["prefetch"] = prefetch
    return CDSRequest.model_validate(body)


def bundle(*ids: str, kind: str = "Condition", next_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": kind, "id": i}} for i in ids],
    }
    if next_url:
        body["link"] = [{"relation": "next", "url": next_url}]
    return body


PATIENT = {"resourceType": "Patient", "id": PATIENT_ID}


async def resolve(
    request: CDSRequest, templates: dict[str, str] = TEMPLATES, deadline: float = 2.0, **limits: Any
) -> PrefetchResult:
    async with httpx.AsyncClient() as http:
        client = FhirClient(http, max_pages=limits.get("max_pages", 5), max_response_bytes=100_000)
        return await resolve_prefetch(templates, request, client, deadline)


def ids(resources: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in resources]


# ------------------------------------------------------------------------------ templates


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("Patient/{{context.patientId}}", {}, f"Patient/{PATIENT_ID}"),
        ("Condition?patient={{ context.patientId }}&x=1", {}, f"Condition?patient={PATIENT_ID}&x=1"),
        ("Practitioner?_id={{userPractitionerId}}", {}, "Practitioner?_id=dr-1"),
        ("X?u={{context.userId}}", {}, "X?u=Practitioner/dr-1"),
        ("Encounter/{{context.encounterId}}", {"encounterId": "enc-9"}, "Encounter/enc-9"),
        ("PractitionerRole/{{userPractitionerRoleId}}", {"userId": "PractitionerRole/r1"}, "PractitionerRole/r1"),
        ("Patient/{{userPatientId}}", {"userId": "Patient/p9"}, "Patient/p9"),
        ("RelatedPerson/{{userRelatedPersonId}}", {"userId": "RelatedPerson/rp"}, "RelatedPerson/rp"),
        ("Encounter/{{context.encounterId}}", {}, None),
        ("PractitionerRole/{{userPractitionerRoleId}}", {}, None),
        ("Patient/{{userPatientId}}", {}, None),
        ("Condition?patient={{context.patientId}}", {"patientId": "1&_include=*"}, None),
        ("Patient/{{unknownToken}}", {}, None),
        ("Patient?active=true", {}, "Patient?active=true"),
    ],
)
def test_render_template(template: str, context: dict[str, Any], expected: str | None) -> None:
    """Tokens are filled from context and userId; a token without a safe value gives None."""
    assert render_template(template, make_request(**context)) == expected


# ------------------------------------------------------------------------------ supplied values


async def test_supplied_values_are_used_without_queries(mock: respx.MockRouter) -> None:
    """A supplied Bundle gives its entries and a supplied resource gives [resource]; nothing is queried."""
    result = await resolve(make_request({"patient": PATIENT, "conditions": bundle("c1", "c2")}))
    assert result.resources == {"patient": [PATIENT], "conditions": ids_to_resources("c1", "c2")}
    assert result.unavailable == {}
    assert not mock.calls


def ids_to_resources(*values: str) -> list[dict[str, Any]]:
    return [{"resourceType": "Condition", "id": v} for v in values]


async def test_null_is_authoritative_empty(mock: respx.MockRouter) -> None:
    """A null prefetch value means nothing found: [] and no re-query."""
    result = await resolve(make_request({"patient": PATIENT, "conditions": None}))
    assert result.resources["conditions"] == []
    assert "conditions" not in result.unavailable
    assert not mock.calls


async def test_absent_keys_are_queried_with_bearer(mock: respx.MockRouter) -> None:
    """Absent keys are fetched from fhirServer: id templates by read, queries by search, with the token."""
    read = mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    search = mock.get(f"{BASE}/Condition", params={"patient": PATIENT_ID}).respond(json=bundle("c1"))
    result = await resolve(make_request(None))
    assert result.resources == {"patient": [PATIENT], "conditions": ids_to_resources("c1")}
    assert result.unavailable == {}
    for route in (read, search):
        assert route.call_count == 1
        assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_only_missing_keys_are_queried(mock: respx.MockRouter) -> None:
    """Only expected − supplied keys are queried; extra supplied keys are ignored."""
    read = mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    search = mock.get(f"{BASE}/Condition").respond(json=bundle("c9"))
    result = await resolve(make_request({"patient": PATIENT, "unrelated": bundle("z")}))
    assert not read.called and search.call_count == 1
    assert set(result.resources) == {"patient", "conditions"}


@pytest.mark.parametrize(
    "bad",
    [
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]},
        {"no": "resourceType"},
    ],
)
async def test_outcome_or_malformed_value_is_requeried(mock: respx.MockRouter, bad: Any) -> None:
    """An OperationOutcome or an object that is not a resource is treated as absent and re-queried (a value
    that is no JSON object is a 400: tests/contract/test_request_fields.py)."""
    search = mock.get(f"{BASE}/Condition").respond(json=bundle("c1"))
    result = await resolve(make_request({"patient": PATIENT, "conditions": bad}))
    assert search.call_count == 1
    assert ids(result.resources["conditions"]) == ["c1"]


async def test_supplied_bundle_next_link_is_followed(mock: respx.MockRouter) -> None:
    """A supplied Bundle with a next link is completed from fhirServer, first page kept."""
    page2 = mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(json=bundle("c3"))
    supplied = bundle("c1", "c2", next_url=f"{BASE}/Condition?page=2")
    result = await resolve(make_request({"patient": PATIENT, "conditions": supplied}))
    assert ids(result.resources["conditions"]) == ["c1", "c2", "c3"]
    assert page2.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_supplied_bundle_next_link_elsewhere_is_incomplete(mock: respx.MockRouter) -> None:
    """A supplied Bundle whose next link points at another origin keeps its first page, marked incomplete."""
    other = mock.get("https://evil.example.com/Condition").respond(json=bundle("c3"))
    supplied = bundle("c1", next_url="https://evil.example.com/Condition?page=2")
    result = await resolve(make_request({"patient": PATIENT, "conditions": supplied}))
    assert result.unavailable == {"conditions": "next-page-failed"}
    assert ids(result.resources["conditions"]) == ["c1"]
    assert result.incomplete == {"conditions"}
    assert not other.called


async def test_supplied_bundle_next_link_with_credentials_is_not_followed(mock: respx.MockRouter) -> None:
    """A next link on fhirServer's own origin but with user:password in it is not followed: no Basic credentials replace the token."""
    page2 = mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(json=bundle("c3"))
    with_credentials = BASE.replace("://", "://u:p@", 1)
    supplied = bundle("c1", next_url=f"{with_credentials}/Condition?page=2")
    result = await resolve(make_request({"patient": PATIENT, "conditions": supplied}))
    assert result.unavailable == {"conditions": "next-page-failed"}
    assert ids(result.resources["conditions"]) == ["c1"]
    assert not page2.called


async def test_failing_next_page_keeps_the_pages_read(mock: respx.MockRouter) -> None:
    """A search whose second page fails keeps its first page's resources, marked incomplete."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(500)
    mock.get(f"{BASE}/Condition").respond(json=bundle("c1", "c2", next_url=f"{BASE}/Condition?page=2"))
    result = await resolve(make_request(None))
    assert ids(result.resources["conditions"]) == ["c1", "c2"]
    assert result.unavailable == {"conditions": "next-page-failed"}


async def test_supplied_bundle_without_fhir_server_keeps_its_page() -> None:
    """A supplied Bundle with a next link and no fhirServer keeps its first page, marked incomplete."""
    supplied = bundle("c1", next_url=f"{BASE}/Condition?page=2")
    request = make_request({"patient": PATIENT, "conditions": supplied}, fhir_server=None, token=None)
    result = await resolve_prefetch(TEMPLATES, request, None, 1.0)
    assert ids(result.resources["conditions"]) == ["c1"]
    assert result.unavailable == {"conditions": "next-page-failed"}


async def test_first_page_failing_leaves_nothing(mock: respx.MockRouter) -> None:
    """A search whose first page fails is unavailable with the failure's reason, no resources."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    mock.get(f"{BASE}/Condition").respond(503)
    result = await resolve(make_request(None))
    assert "conditions" not in result.resources and result.unavailable["conditions"] == "server-error"


# ------------------------------------------------------------------------------ failures


async def test_no_fhir_server_makes_missing_keys_unavailable(mock: respx.MockRouter) -> None:
    """Without fhirServer, keys that need a query are unavailable with no-fhir-server."""
    result = await resolve(make_request({"patient": PATIENT}, fhir_server=None, token=None))
    assert result.resources == {"patient": [PATIENT]}
    assert result.unavailable == {"conditions": "no-fhir-server"}
    assert not mock.calls


async def test_no_client_makes_missing_keys_unavailable() -> None:
    """Without a client, keys that need a query are unavailable with no-fhir-server."""
    result = await resolve_prefetch(TEMPLATES, make_request(None), None, 1.0)
    assert result.unavailable == {"patient": "no-fhir-server", "conditions": "no-fhir-server"}
    assert result.resources == {}


async def test_fhir_server_without_authorization_is_not_queried(mock: respx.MockRouter) -> None:
    """CDS Hooks: with fhirServer but no fhirAuthorization nothing is queried; the keys are unavailable."""
    mock.get(f"{BASE}/Condition").respond(json=bundle("c1"))
    result = await resolve(make_request({"patient": PATIENT}, token=None))
    assert result.unavailable == {"conditions": "no-fhir-server"}
    assert not mock.calls


async def test_unrenderable_template_is_unavailable(mock: respx.MockRouter) -> None:
    """A template whose token has no value is unavailable and not queried."""
    templates = {"encounter": "Encounter/{{context.encounterId}}"}
    result = await resolve(make_request(None), templates)
    assert result.unavailable == {"encounter": "unrenderable"}
    assert not mock.calls


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(401), "unauthorized"),
        (httpx.Response(403), "forbidden"),
        (httpx.Response(500), "server-error"),
        (httpx.Response(200, content=b"<html>"), "malformed"),
        (httpx.Response(302, headers={"Location": "https://evil.example.com/"}), "refused"),
        (httpx.Response(404), "not-found"),
    ],
)
async def test_fhir_errors_become_reason_codes(mock: respx.MockRouter, response: httpx.Response, reason: str) -> None:
    """A failed fallback search makes its key unavailable with the error's reason code."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    mock.get(f"{BASE}/Condition").mock(return_value=response)
    result = await resolve(make_request(None))
    assert result.unavailable == {"conditions": reason}
    assert result.resources == {"patient": [PATIENT]}


async def test_read_not_found_is_empty(mock: respx.MockRouter) -> None:
    """A fallback read answered 404 means the resource does not exist: []."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(404)
    mock.get(f"{BASE}/Condition").respond(json=bundle())
    result = await resolve(make_request(None))
    assert result.resources == {"patient": [], "conditions": []}
    assert result.unavailable == {}


async def test_timeout_error_is_unavailable(mock: respx.MockRouter) -> None:
    """A transport timeout makes its key unavailable with reason timeout."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").mock(side_effect=httpx.ReadTimeout("slow"))
    mock.get(f"{BASE}/Condition").respond(json=bundle("c1"))
    result = await resolve(make_request(None))
    assert result.unavailable == {"patient": "timeout"}
    assert ids(result.resources["conditions"]) == ["c1"]


async def test_pages_are_bounded(mock: respx.MockRouter) -> None:
    """An endless chain of next links stops after max_pages requests: the pages read are kept, the key is incomplete."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    route = mock.get(f"{BASE}/Condition").mock(
        side_effect=lambda request: httpx.Response(200, json=bundle("c", next_url=f"{request.url}&n=1"))
    )
    result = await resolve(make_request(None), max_pages=4)
    assert result.unavailable == {"conditions": "next-page-failed"}
    assert len(result.resources["conditions"]) == 4
    assert route.call_count == 4


# ------------------------------------------------------------------------------ concurrency and deadline


async def test_fallback_queries_overlap(mock: respx.MockRouter) -> None:
    """Both fallback queries are in flight at the same time (each waits until the other started)."""
    started = {"patient": asyncio.Event(), "conditions": asyncio.Event()}

    def waits_for(mine: str, other: str, body: dict[str, Any]) -> Any:
        async def effect(request: httpx.Request) -> httpx.Response:
            started[mine].set()
            await asyncio.wait_for(started[other].wait(), timeout=2.0)
            return httpx.Response(200, json=body)

        return effect

    mock.get(f"{BASE}/Patient/{PATIENT_ID}").mock(side_effect=waits_for("patient", "conditions", PATIENT))
    mock.get(f"{BASE}/Condition").mock(side_effect=waits_for("conditions", "patient", bundle("c1")))
    result = await resolve(make_request(None), deadline=5.0)
    assert result.unavailable == {}
    assert result.resources["patient"] == [PATIENT]


async def test_deadline_keeps_finished_keys(mock: respx.MockRouter) -> None:
    """At the deadline unfinished keys are unavailable with timeout; finished keys keep their data."""
    cancelled = asyncio.Event()

    async def hangs(request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return httpx.Response(200, json=bundle())

    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    mock.get(f"{BASE}/Condition").mock(side_effect=hangs)
    start = time.monotonic()
    result = await resolve(make_request(None), deadline=0.2)
    elapsed = time.monotonic() - start
    assert result.resources == {"patient": [PATIENT]}
    assert result.unavailable == {"conditions": "timeout"}
    assert 0.15 <= elapsed < 2.0
    assert cancelled.is_set()


async def test_logs_name_keys_not_data(mock: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    """The resolution log names keys and reason codes, never ids or the token."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    mock.get(f"{BASE}/Condition").respond(401)
    caplog.set_level("DEBUG", logger="cds_service")
    await resolve(make_request(None))
    records = [r for r in caplog.records if r.name == "cds_service.hooks.prefetch"]
    assert records and records[-1].__dict__["prefetch_unavailable"] == {"conditions": "unauthorized"}
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert PATIENT_ID not in text and TOKEN not in text
