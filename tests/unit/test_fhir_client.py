"""The FHIR client: status mapping, token scoping, paging limits and response checks."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from cds_service.fhir import client as fhir_client
from cds_service.fhir.client import FhirClient, create_http_client
from cds_service.fhir.errors import (
    FhirError,
    FhirForbidden,
    FhirMalformedResponse,
    FhirNotFound,
    FhirRefused,
    FhirServerError,
    FhirTimeout,
    FhirUnauthorized,
    FhirWrongType,
    error_for_status,
)
from cds_service.fhir.searchset import Searchset
from cds_service.settings import Settings

pytestmark = pytest.mark.anyio

BASE = "https://ehr.example.org/fhir"
TOKEN = "secret-access-token-value"
PATIENT_ID = "pt-4711"


def client(http: httpx.AsyncClient, **options: Any) -> FhirClient:
    limits: dict[str, Any] = {"max_pages": 3, "max_response_bytes": 10_000, **options}
    return FhirClient(http, **limits)


def bundle(*ids: str, next_url: str | None = None, kind: str = "Condition") -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": kind, "id": i}} for i in ids],
    }
    if next_url:
        body["link"] = [{"relation": "self", "url": f"{BASE}/x"}, {"relation": "next", "url": next_url}]
    return body


# ------------------------------------------------------------------------------ status mapping


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, FhirUnauthorized),
        (403, FhirForbidden),
        (404, FhirNotFound),
        (410, FhirNotFound),
        (500, FhirServerError),
        (503, FhirServerError),
        (418, FhirServerError),
        (302, FhirRefused),
    ],
)
def test_error_for_status_maps_each_status_to_one_class(status: int, expected: type[FhirError]) -> None:
    """Each HTTP status maps to exactly the documented error class and keeps the status."""
    error = error_for_status(status, "Patient read")
    assert type(error) is expected
    assert error.status == status


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, FhirUnauthorized), (403, FhirForbidden), (404, FhirNotFound), (410, FhirNotFound), (500, FhirServerError)],
)
async def test_read_raises_typed_error_for_status(
    mock: respx.MockRouter, status: int, expected: type[FhirError]
) -> None:
    """A non-2xx answer to a read raises the typed error for its status."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(status, json={"resourceType": "OperationOutcome"})
    async with httpx.AsyncClient() as http:
        with pytest.raises(expected):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)


async def test_error_reason_carries_no_query_id_or_token(mock: respx.MockRouter) -> None:
    """An error's reason names the resource type and status, never the query, patient id or token."""
    mock.get(f"{BASE}/Condition").respond(500)
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirServerError) as caught:
            await client(http).search(BASE, f"Condition?patient={PATIENT_ID}", TOKEN)
    text = f"{caught.value} {caught.value.reason}"
    assert "Condition" in text and "500" in text
    assert PATIENT_ID not in text and TOKEN not in text and "patient=" not in text


# ------------------------------------------------------------------------------ read


async def test_read_returns_resource_and_sends_accept_and_bearer(mock: respx.MockRouter) -> None:
    """A read returns the resource and sends Accept fhir+json with the Bearer token."""
    route = mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json={"resourceType": "Patient", "id": PATIENT_ID})
    async with httpx.AsyncClient() as http:
        resource = await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)
    assert resource == {"resourceType": "Patient", "id": PATIENT_ID}
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Accept"] == "application/fhir+json"


@pytest.mark.parametrize("token", [None, ""])
async def test_no_token_no_query(mock: respx.MockRouter, token: str | None) -> None:
    """Without an access token (no fhirAuthorization) nothing is queried: CDS Hooks allows queries only with both."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json={"resourceType": "Patient", "id": PATIENT_ID})
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirRefused, match="no fhirAuthorization"):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", token)
    assert not mock.calls


async def test_read_of_wrong_resource_type_is_malformed(mock: respx.MockRouter) -> None:
    """A read answered with another resource type is a malformed response of the wrong type."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json={"resourceType": "OperationOutcome"})
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirWrongType):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
async def test_non_json_or_non_object_body_is_malformed(mock: respx.MockRouter, body: bytes) -> None:
    """A body that is not a JSON object is a malformed response."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(200, content=body)
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirMalformedResponse):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)


async def test_oversized_declared_body_is_malformed(mock: respx.MockRouter) -> None:
    """A response whose Content-Length exceeds the limit is refused as malformed."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(200, content=b"{" + b" " * 20_000 + b"}")
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirMalformedResponse, match="larger than"):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)


async def test_oversized_streamed_body_is_cut_off(mock: respx.MockRouter) -> None:
    """A chunked response without Content-Length is cut off once it passes the limit."""
    chunks_sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield b'{"resourceType": "Patient", "pad": "'
        for _ in range(1000):
            chunks_sent += 1
            yield b"x" * 1000

    mock.get(f"{BASE}/Patient/{PATIENT_ID}").mock(return_value=httpx.Response(200, content=endless()))
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirMalformedResponse, match="larger than"):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)
    assert chunks_sent < 20


def serving(content: bytes, encoding: str) -> httpx.AsyncClient:
    """An HTTP client whose every request is answered with ``content`` in 16 KB packets, as sent (respx
    cannot be used here: it decodes a mocked body before the client reads it)."""

    async def packets() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 16_384):
            yield content[start : start + 16_384]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=packets(), headers={"Content-Encoding": encoding})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_gzip_bomb_is_cut_off_while_inflating() -> None:
    """A gzip body that inflates far past the limit is refused having inflated little more than the limit."""
    bomb = gzip.compress(b"{" + b" " * 50_000_000 + b"}", compresslevel=9)
    tracemalloc.start()
    try:
        async with serving(bomb, "gzip") as http:
            with pytest.raises(FhirMalformedResponse, match="larger than"):
                await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_body_is_decoded(encoding: str) -> None:
    """gzip, zlib deflate and raw deflate bodies within the limit are decoded."""
    body = json.dumps({"resourceType": "Patient", "id": PATIENT_ID}).encode()
    if encoding == "gzip":
        content = gzip.compress(body)
    elif encoding == "deflate":
        content = zlib.compress(body)
    else:
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        content, encoding = packer.compress(body) + packer.flush(), "deflate"
    async with serving(content, encoding) as http:
        assert (await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN))["id"] == PATIENT_ID


@pytest.mark.parametrize(("encoding", "content"), [("br", b"x"), ("gzip", b"not gzip at all")])
async def test_unknown_or_broken_encoding_is_malformed(encoding: str, content: bytes) -> None:
    """A Content-Encoding the client did not ask for, or a corrupt gzip body, is a malformed response."""
    async with serving(content, encoding) as http:
        with pytest.raises(FhirMalformedResponse):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        (httpx.ReadTimeout("slow"), FhirTimeout),
        (httpx.ConnectTimeout("slow"), FhirTimeout),
        (httpx.ConnectError("refused"), FhirServerError),
    ],
)
async def test_transport_failures_are_typed(
    mock: respx.MockRouter, effect: Exception, expected: type[FhirError]
) -> None:
    """Timeouts become FhirTimeout and connection failures FhirServerError."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").mock(side_effect=effect)
    async with httpx.AsyncClient() as http:
        with pytest.raises(expected):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)


async def test_redirect_is_refused_and_not_followed(mock: respx.MockRouter) -> None:
    """A 3xx answer is refused and its Location is never requested."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(302, headers={"Location": "https://evil.example.com/p"})
    elsewhere = mock.get("https://evil.example.com/p").respond(json={"resourceType": "Patient"})
    async with httpx.AsyncClient(follow_redirects=True) as http:
        with pytest.raises(FhirRefused):
            await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)
    assert not elsewhere.called


# ------------------------------------------------------------------------------ search and paging


async def test_search_follows_next_links_with_token(mock: respx.MockRouter) -> None:
    """A search returns the entries of every page and sends the token to each same-origin page."""
    first = mock.get(f"{BASE}/Condition", params={"patient": PATIENT_ID}).respond(
        json=bundle("c1", "c2", next_url=f"{BASE}/Condition?page=2")
    )
    second = mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(json=bundle("c3"))
    async with httpx.AsyncClient() as http:
        found = await client(http).search(BASE, f"Condition?patient={PATIENT_ID}", TOKEN)
    assert [r["id"] for r in found] == ["c1", "c2", "c3"]
    assert first.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert second.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_relative_next_link_resolves_against_base(mock: respx.MockRouter) -> None:
    """A relative next link is resolved against the fhirServer base."""
    mock.get(f"{BASE}/Condition", params={"patient": PATIENT_ID}).respond(
        json=bundle("c1", next_url="Condition?page=2")
    )
    mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(json=bundle("c2"))
    async with httpx.AsyncClient() as http:
        found = await client(http).search(BASE, f"Condition?patient={PATIENT_ID}", TOKEN)
    assert [r["id"] for r in found] == ["c1", "c2"]


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example.com/fhir/Condition?page=2",
        "https://ehr.example.org:8443/fhir/Condition?page=2",
        "http://ehr.example.org/fhir/Condition?page=2",
    ],
)
async def test_next_link_to_another_origin_is_refused(mock: respx.MockRouter, elsewhere: str) -> None:
    """A next link to another scheme, host or port is refused and never requested (no token leaks)."""
    mock.get(f"{BASE}/Condition").respond(json=bundle("c1", next_url=elsewhere))
    other = mock.route(url=elsewhere).respond(json=bundle("c2"))
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirRefused):
            await client(http).search(BASE, f"Condition?patient={PATIENT_ID}", TOKEN)
    assert not other.called
    assert len(mock.calls) == 1


async def test_pages_are_bounded(mock: respx.MockRouter) -> None:
    """Endless next links stop with FhirRefused after exactly max_pages requests."""
    route = mock.get(f"{BASE}/Condition").mock(
        side_effect=lambda request: httpx.Response(200, json=bundle("c", next_url=f"{request.url}&more=1"))
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirRefused, match="more than 3 pages"):
            await client(http, max_pages=3).search(BASE, f"Condition?patient={PATIENT_ID}", TOKEN)
    assert route.call_count == 3


async def test_urls_inside_query_values_are_allowed(mock: respx.MockRouter) -> None:
    """A token search whose value is a system URL (``code=http://loinc.org|…``) is sent to fhirServer."""
    route = mock.get(f"{BASE}/Observation").respond(json=bundle("o1", kind="Observation"))
    async with httpx.AsyncClient() as http:
        found = await client(http).search(BASE, "Observation?patient=p&code=http://loinc.org|33914-3", TOKEN)
    assert [r["id"] for r in found] == ["o1"]
    assert route.calls.last.request.url.params["code"] == "http://loinc.org|33914-3"


async def test_search_answered_with_non_bundle_is_malformed(mock: respx.MockRouter) -> None:
    """A search answered with something other than a Bundle is malformed."""
    mock.get(f"{BASE}/Condition").respond(json={"resourceType": "Condition", "id": "c1"})
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirMalformedResponse):
            await client(http).search(BASE, f"Condition?patient={PATIENT_ID}", TOKEN)


async def test_follow_next_reads_the_later_pages_into_the_first(mock: respx.MockRouter) -> None:
    """follow_next reads the pages after a prefetched Bundle into its Searchset: every page's resources."""
    mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(json=bundle("c2"))
    found = Searchset(f"Condition?patient={PATIENT_ID}")
    found.add(bundle("c1", next_url=f"{BASE}/Condition?page=2"))
    async with httpx.AsyncClient() as http:
        resources = await client(http).follow_next(BASE, found, TOKEN)
    assert [r["id"] for r in resources] == ["c1", "c2"]
    assert mock.calls.call_count == 1


def test_outcome_entries_and_entries_without_a_resource_are_not_read() -> None:
    """A page's resources leave out search.mode=outcome messages and entries without a resource."""
    information = {"resourceType": "OperationOutcome", "issue": [{"severity": "information"}]}
    body = bundle("c1")
    body["entry"] += [{"resource": information, "search": {"mode": "outcome"}}, {"fullUrl": "urn:x"}, "junk"]
    found = Searchset("Condition?patient=p")
    found.add(body)
    assert [r["id"] for r in found.finish()] == ["c1"]


# ------------------------------------------------------------------------------ refused before sending


@pytest.mark.parametrize(
    ("base", "options"),
    [
        ("ftp://ehr.example.org/fhir", {}),
        ("not a url", {}),
        ("https://ehr.example.org/fhir?x=1", {}),
        (BASE, {"allowed_hosts": ["other.example.org"]}),
        ("http://ehr.example.org/fhir", {}),  # plain http to a host not listed
        ("http://ehr.example.org/fhir", {"allowed_hosts": ["ehr.example.org"], "allow_http": False}),  # production
    ],
)
async def test_bad_or_disallowed_server_is_refused_without_request(
    mock: respx.MockRouter, base: str, options: dict[str, Any]
) -> None:
    """A bad fhirServer URL or a host outside allowed_hosts is refused before any request."""
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirRefused):
            await client(http, **options).read(base, f"Patient/{PATIENT_ID}", TOKEN)
    assert not mock.calls


@pytest.mark.parametrize("base", [BASE, "http://ehr.example.org/fhir"])
async def test_allowed_host_is_called(mock: respx.MockRouter, base: str) -> None:
    """A fhirServer whose host is in allowed_hosts is called, over plain http too outside production."""
    mock.get(f"{base}/Patient/{PATIENT_ID}").respond(json={"resourceType": "Patient", "id": PATIENT_ID})
    async with httpx.AsyncClient() as http:
        fhir = client(http, allowed_hosts=["EHR.example.org"])
        assert (await fhir.read(base, f"Patient/{PATIENT_ID}", TOKEN))["id"] == PATIENT_ID


async def test_absolute_query_path_is_refused(mock: respx.MockRouter) -> None:
    """A query that is an absolute URL is refused instead of being sent with the token."""
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirRefused):
            await client(http).search(BASE, "https://evil.example.com/Condition?x=1", TOKEN)
    assert not mock.calls


# ------------------------------------------------------------------------------ logs and HTTP client


async def test_logs_carry_no_token_or_patient_id(mock: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    """Client logs name resource types and statuses but never the token, patient id or query."""
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json={"resourceType": "Patient", "id": PATIENT_ID})
    mock.get(f"{BASE}/Condition").respond(403)
    caplog.set_level(logging.DEBUG, logger="cds_service")
    async with httpx.AsyncClient() as http:
        await client(http).read(BASE, f"Patient/{PATIENT_ID}", TOKEN)
        with pytest.raises(FhirForbidden):
            await client(http).search(BASE, f"Condition?patient={PATIENT_ID}", TOKEN)
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records if r.name.startswith("cds_service"))
    assert "Condition search" in text
    assert TOKEN not in text and PATIENT_ID not in text and "patient=" not in text


async def test_create_http_client_does_not_follow_redirects() -> None:
    """The app's HTTP client never follows redirects and takes its timeout from the settings."""
    http = create_http_client(Settings(prefetch_deadline_seconds=1.5))
    async with http:
        assert http.follow_redirects is False
        assert http.timeout.read == 1.5
        assert http.timeout.connect is not None and http.timeout.connect <= 1.5


# ------------------------------------------------------------------------------ one server cannot take the pool


async def test_a_server_that_never_answers_holds_no_more_than_its_share(mock: respx.MockRouter) -> None:
    """Calls to a hung fhirServer hold at most PER_SERVER requests in flight; a call to another server is answered meanwhile."""
    hung_base = "https://hung.example.org/fhir"
    released = asyncio.Event()
    in_flight = 0
    most = 0

    async def hang(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await released.wait()
        in_flight -= 1
        return httpx.Response(200, json={"resourceType": "Patient", "id": PATIENT_ID})

    mock.get(f"{hung_base}/Patient/{PATIENT_ID}").mock(side_effect=hang)
    mock.get(f"{BASE}/Patient/{PATIENT_ID}").respond(json={"resourceType": "Patient", "id": PATIENT_ID})
    async with httpx.AsyncClient() as http:
        fhir = client(http)
        hung = [asyncio.create_task(fhir.read(hung_base, f"Patient/{PATIENT_ID}", TOKEN)) for _ in range(fhir_client.PER_SERVER + 20)]
        await asyncio.sleep(0.05)
        answered = await asyncio.wait_for(fhir.read(BASE, f"Patient/{PATIENT_ID}", TOKEN), timeout=1)
        assert answered["id"] == PATIENT_ID
        assert most == fhir_client.PER_SERVER
        released.set()
        assert len(await asyncio.gather(*hung)) == fhir_client.PER_SERVER + 20
