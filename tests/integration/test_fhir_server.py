"""Against a real FHIR server: loading fixtures, prefetch fallback, paging and injected faults."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from cds_service.fhir.client import FhirClient
from cds_service.commands.load_fixtures import load_fixtures
from cds_service.fixtures import offset_days
from cds_service.protocol.models import CDSRequest
from cds_service.hooks.prefetch import resolve_prefetch
from tests.conftest import LOCAL_FHIR_HOSTS, bearer_authorization
from tests.integration.conftest import FhirServerAdmin

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FIXTURES_ROOT = Path(__file__).resolve().parents[1] / "data" / "fhir_fixtures"
FIXTURE = "paging-patient"
PATIENT_ID = "fixture-paging"
TOKEN = "integration-test-token"
TODAY = date(2026, 3, 1)
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&status=active",
    "observations": "Observation?patient={{context.patientId}}&code=http://loinc.org|33914-3,http://loinc.org|8310-5",
    "procedures": "Procedure?patient={{context.patientId}}",
}


@pytest.fixture
async def loaded(fhir_server: str) -> list[str]:
    """The fixture patient, loaded (again: PUTs are idempotent) into the server."""
    return await load_fixtures(fhir_server, [FIXTURE], today=TODAY, token=TOKEN, root=FIXTURES_ROOT)


def hook_request(fhir_server: str) -> CDSRequest:
    return CDSRequest.model_validate(
        {
            "hook": "order-sign",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": fhir_server,
            "fhirAuthorization": bearer_authorization(TOKEN),
            "context": {"patientId": PATIENT_ID, "userId": "Practitioner/dr-1", "draftOrders": {}},
        }
    )


def fhir_client(http: httpx.AsyncClient, max_pages: int = 10) -> FhirClient:
    return FhirClient(http, max_pages=max_pages, max_response_bytes=1_000_000, allowed_hosts=LOCAL_FHIR_HOSTS)


async def test_load_fixtures_puts_shifted_resources(fhir_server: str, loaded: list[str]) -> None:
    """load_fixtures PUTs every fixture resource at Type/id with dates shifted to today."""
    assert loaded[0] == f"Patient/{PATIENT_ID}"
    assert len(loaded) == 8 and f"Condition/{PATIENT_ID}-cond-5" in loaded
    async with httpx.AsyncClient() as http:
        patient = (await http.get(f"{fhir_server}/Patient/{PATIENT_ID}")).json()
    shifted = date.fromordinal(date(1971, 3, 14).toordinal() + offset_days(TODAY))
    assert patient["birthDate"] == shifted.isoformat()


async def test_resolve_without_prefetch_fetches_every_key(
    fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin
) -> None:
    """With no prefetch, every key is fetched from the server with the Bearer token, Patient included."""
    async with httpx.AsyncClient() as http:
        result = await resolve_prefetch(TEMPLATES, hook_request(fhir_server), fhir_client(http), 10.0)
    assert result.unavailable == {}
    assert [r["id"] for r in result.resources["patient"]] == [PATIENT_ID]
    assert len(result.resources["conditions"]) == 5
    assert [r["id"] for r in result.resources["medicationRequests"]] == [f"{PATIENT_ID}-medrx-1"]
    assert [r["id"] for r in result.resources["observations"]] == [f"{PATIENT_ID}-egfr-1"]
    assert result.resources["procedures"] == []
    seen = fhir_admin.requests()
    assert len(seen) == len(TEMPLATES)
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in seen)


async def test_paged_search_follows_next_links(
    fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin
) -> None:
    """A search with _count=2 over five Conditions follows the server's next links across three pages."""
    async with httpx.AsyncClient() as http:
        found = await fhir_client(http).search(fhir_server, f"Condition?patient={PATIENT_ID}&_count=2", TOKEN)
    assert sorted(r["id"] for r in found) == [f"{PATIENT_ID}-cond-{i}" for i in range(1, 6)]
    pages = fhir_admin.requests()
    assert len(pages) == 3
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in pages)


async def test_injected_faults_become_unavailable_keys(
    fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin
) -> None:
    """A 503, a redirect and a slow answer injected by the server become server-error, refused and timeout."""
    fhir_admin.add_fault(match={"path": "^Condition"}, status=503)
    fhir_admin.add_fault(match={"path": "^MedicationRequest"}, redirectTo="http://127.0.0.2:9")
    fhir_admin.add_fault(match={"path": "^Observation"}, delayMs=3000)
    async with httpx.AsyncClient() as http:
        result = await resolve_prefetch(TEMPLATES, hook_request(fhir_server), fhir_client(http), 1.0)
    assert result.unavailable == {
        "conditions": "server-error",
        "medicationRequests": "refused",
        "observations": "timeout",
    }
    assert [r["id"] for r in result.resources["patient"]] == [PATIENT_ID]
    assert result.resources["procedures"] == []


async def test_endless_next_pages_are_bounded(fhir_server: str, loaded: list[str], fhir_admin: FhirServerAdmin) -> None:
    """The server's endless-pages fault stops at max_pages requests; the pages read are kept, the key incomplete."""
    fhir_admin.add_fault(match={"path": "^Condition"}, endlessPages=True)
    async with httpx.AsyncClient() as http:
        result = await resolve_prefetch(
            {"conditions": TEMPLATES["conditions"] + "&_count=1"},
            hook_request(fhir_server),
            fhir_client(http, max_pages=4),
            10.0,
        )
    assert result.unavailable == {"conditions": "next-page-failed"}
    assert len(fhir_admin.requests()) == 4
    assert 1 <= len(result.resources["conditions"]) <= 4  # one per page (_count=1), the pages read
