"""Reading referenced Medications from the FHIR server (hooks/medfetch.py): what is read, concurrently,
with the token, within the deadline, and what stays unresolved."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
import respx

from cds_service.facts.medrefs import MedicationIndex
from cds_service.fhir.client import FhirClient
from cds_service.hooks import medfetch
from cds_service.hooks.medfetch import resolve_medications
from tests.unit.test_medication_references import DIAZEPAM, OXYCODONE, medication, statement
from tests.unit.test_prefetch import BASE, TOKEN, make_request

pytestmark = pytest.mark.anyio


def draft(oid: str, reference: str) -> dict[str, Any]:
    return {"resource": {"resourceType": "MedicationRequest", "id": oid, "status": "draft", "intent": "order",
                         "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": reference}}}  # fmt: skip


async def resolve(
    resources: dict[str, list[dict[str, Any]]], drafts: list[Any], seconds: float = 2.0, **request: Any
) -> MedicationIndex:
    async with httpx.AsyncClient() as http:
        client = FhirClient(http, max_pages=5, max_response_bytes=100_000)
        return await resolve_medications(resources, drafts, make_request(None, **request), client, seconds)


async def test_referenced_medications_not_carried_are_read_with_the_token(mock: respx.MockRouter) -> None:
    """Medications the record and drafts reference, but the request lacks, are each read once with the Bearer token."""
    oxy = mock.get(f"{BASE}/Medication/oxy").respond(json=medication("oxy", OXYCODONE))
    dzp = mock.get(f"{BASE}/Medication/dzp").respond(json=medication("dzp", DIAZEPAM))
    carried = mock.get(f"{BASE}/Medication/carried").respond(json=medication("carried"))
    resources = {
        "medicationStatements": [statement("s1", "Medication/oxy"), statement("s2", f"{BASE}/Medication/oxy"),
                                 statement("s3", "#local"), statement("s4", "Medication/carried"),
                                 medication("carried", DIAZEPAM)],
        "conditions": [{"resourceType": "Condition", "id": "c1"}],
    }  # fmt: skip
    index = await resolve(resources, [draft("d1", "Medication/dzp"), "junk"])
    assert index.get("Medication/oxy") == medication("oxy", OXYCODONE)
    assert index.get("Medication/dzp") == medication("dzp", DIAZEPAM)
    assert index.get("Medication/carried") == medication("carried", DIAZEPAM)
    assert oxy.call_count == 1 and dzp.call_count == 1 and not carried.called
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in mock.calls)


async def test_nothing_is_read_without_a_fhir_server(mock: respx.MockRouter) -> None:
    """Without fhirServer no Medication is read; carried ones still resolve."""
    resources = {"meds": [statement("s1", "Medication/oxy"), medication("x", DIAZEPAM)]}
    index = await resolve(resources, [], fhir_server=None, token=None)
    assert not mock.calls
    assert index.get("Medication/oxy") is None and index.get("Medication/x") is not None


async def test_reads_overlap(mock: respx.MockRouter) -> None:
    """The Medication reads are in flight together (each waits until the other started)."""
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    def waits_for(mine: str, other: str) -> Any:
        async def effect(request: httpx.Request) -> httpx.Response:
            started[mine].set()
            await asyncio.wait_for(started[other].wait(), timeout=2.0)
            return httpx.Response(200, json=medication(mine))

        return effect

    mock.get(f"{BASE}/Medication/a").mock(side_effect=waits_for("a", "b"))
    mock.get(f"{BASE}/Medication/b").mock(side_effect=waits_for("b", "a"))
    index = await resolve({"m": [statement("s1", "Medication/a"), statement("s2", "Medication/b")]}, [])
    assert index.get("Medication/a") is not None and index.get("Medication/b") is not None


async def test_failed_and_late_reads_stay_unresolved_and_are_logged_without_ids(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """A 404, a 500, a wrong resource type and a read past the deadline leave their references unresolved,
    within the deadline; the log counts reasons and names no reference or token."""

    async def hangs(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=medication("slow-secret"))

    mock.get(f"{BASE}/Medication/gone-secret").respond(404)
    mock.get(f"{BASE}/Medication/broken-secret").respond(500)
    mock.get(f"{BASE}/Medication/patient-secret").respond(json={"resourceType": "Patient", "id": "patient-secret"})
    mock.get(f"{BASE}/Medication/slow-secret").mock(side_effect=hangs)
    mock.get(f"{BASE}/Medication/ok").respond(json=medication("ok", OXYCODONE))
    refs = ["gone-secret", "broken-secret", "patient-secret", "slow-secret", "ok"]
    caplog.set_level(logging.DEBUG, logger="cds_service")
    start = time.monotonic()
    index = await resolve({"m": [statement(f"s{i}", f"Medication/{r}") for i, r in enumerate(refs)]}, [], seconds=0.3)
    assert time.monotonic() - start < 2.0
    assert [r for r in refs if index.get(f"Medication/{r}") is not None] == ["ok"]
    (record,) = [r for r in caplog.records if r.name == "cds_service.hooks.medfetch"]
    assert record.__dict__["failed"] == {"not-found": 1, "server-error": 1, "wrong-type": 1, "timeout": 1}
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "secret" not in text and TOKEN not in text


async def test_no_time_left_reads_nothing_to_completion(mock: respx.MockRouter) -> None:
    """With the prefetch deadline spent, no Medication read is waited for: the reference stays unresolved."""
    mock.get(f"{BASE}/Medication/oxy").respond(json=medication("oxy", OXYCODONE))
    index = await resolve({"m": [statement("s1", "Medication/oxy")]}, [], seconds=0.0)
    assert index.get("Medication/oxy") is None


async def test_reads_are_capped(mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most MAX_MEDICATION_READS Medications are read for one call; the rest stay unresolved."""
    monkeypatch.setattr(medfetch, "MAX_MEDICATION_READS", 2)
    route = mock.get(url__regex=rf"{BASE}/Medication/.*").mock(
        side_effect=lambda request: httpx.Response(200, json=medication(request.url.path.rsplit("/", 1)[1]))
    )
    index = await resolve({"m": [statement(f"s{i}", f"Medication/m{i}") for i in range(4)]}, [])
    assert route.call_count == 2
    assert [i for i in range(4) if index.get(f"Medication/m{i}") is not None] == [0, 1]
