"""A search Bundle that says it is not all the results, or is no answer to its query, is not read as
complete: the same whether the client sent it as prefetch or the service fetched it from fhirServer."""

from __future__ import annotations

import copy
import logging
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.fhir.client import FhirClient
from cds_service.fhir.errors import FhirIncompleteSearch, FhirSearchError
from cds_service.hooks.prefetch import PrefetchResult
from tests.conftest import ICD10, RXNORM, bearer_authorization, concept, condition, hook_body, observation, patient, service_order, topics
from tests.contract.test_ratings import ratings
from tests.contract.test_uncertain_record import metric
from tests.unit.test_prefetch import BASE, PATIENT, PATIENT_ID, TEMPLATES, TOKEN, bundle, ids, make_request, resolve

pytestmark = pytest.mark.anyio

HOW = ["supplied", "fetched"]
MEDICATIONS = {"medicationRequests": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication"}


def outcome(severity: str, text: str = "Results truncated for Jane Roe") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": "too-costly", "diagnostics": text}]}


def with_entries(body: dict[str, Any], *entries: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**body, "entry": [*body["entry"], *entries], **fields}


async def resolve_key(how: str, value: Any, mock: respx.MockRouter, templates: dict[str, str] = TEMPLATES) -> PrefetchResult:
    """``value`` for the templates' last key, sent as prefetch or answered by fhirServer's search."""
    key, template = list(templates.items())[-1]
    if how == "supplied":
        return await resolve(make_request({"patient": PATIENT, key: value}), templates)
    mock.get(f"{BASE}/{template.split('?')[0]}").respond(json=value)
    return await resolve(make_request({"patient": PATIENT}), templates)


# ------------------------------------------------------------------------------ OperationOutcome entries


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("mode", "severity"), [("outcome", "error"), ("match", "fatal"), (None, "error")])
async def test_error_outcome_makes_the_key_incomplete(mock: respx.MockRouter, how: str, mode: str | None, severity: str) -> None:
    """An OperationOutcome entry with an error or fatal issue, in any search mode: search-error, the matches kept as evidence."""
    entry: dict[str, Any] = {"resource": outcome(severity)}
    if mode:
        entry["search"] = {"mode": mode}
    result = await resolve_key(how, with_entries(bundle("c1"), entry), mock)
    assert result.unavailable == {"conditions": "search-error"}
    assert ids(result.resources["conditions"]) == ["c1"] and result.incomplete == {"conditions"}


@pytest.mark.parametrize("how", HOW)
async def test_warning_outcome_keeps_the_key_whole_and_is_logged_as_counts(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """Warning and information issues alone leave the key read whole; the log counts them, never their text."""
    caplog.set_level(logging.DEBUG, logger="cds_service")
    entries = [{"resource": outcome(s), "search": {"mode": "outcome"}} for s in ("warning", "information")]
    result = await resolve_key(how, with_entries(bundle("c1"), *entries, total=1), mock)
    assert result.unavailable == {} and ids(result.resources["conditions"]) == ["c1"]
    (record,) = [r for r in caplog.records if r.getMessage() == "search outcome issues"]
    assert (record.__dict__["errors"], record.__dict__["notes"]) == (0, 2)
    assert "Jane Roe" not in "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)


# ------------------------------------------------------------------------------ total, entry status


@pytest.mark.parametrize("how", HOW)
async def test_fewer_matches_than_total_without_next_is_incomplete(mock: respx.MockRouter, how: str) -> None:
    """total 5, one match and no next link: incomplete, the match kept as evidence."""
    result = await resolve_key(how, {**bundle("c1"), "total": 5}, mock)
    assert result.unavailable == {"conditions": "incomplete"}
    assert ids(result.resources["conditions"]) == ["c1"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("total", ["2", 2.0, " 2 "])
async def test_a_total_sent_as_text_or_float_counts(mock: respx.MockRouter, how: str, total: object) -> None:
    """total "2" or 2.0 with one match and no next link is incomplete, as total 2 is."""
    result = await resolve_key(how, {**bundle("c1"), "total": total}, mock)
    assert result.unavailable == {"conditions": "incomplete"}
    assert ids(result.resources["conditions"]) == ["c1"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("total", ["many", True, 1.5, [1]])
async def test_a_total_that_states_no_count_is_incomplete(mock: respx.MockRouter, how: str, total: object) -> None:
    """A total the matches cannot be checked against ("many", true, 1.5) leaves the search incomplete, its match kept."""
    result = await resolve_key(how, {**bundle("c1"), "total": total}, mock)
    assert result.unavailable == {"conditions": "incomplete"}
    assert ids(result.resources["conditions"]) == ["c1"]


@pytest.mark.parametrize("how", HOW)
async def test_total_met_over_every_page_is_whole(mock: respx.MockRouter, how: str) -> None:
    """total counts the matches of every page: page one from the client or the server, page two from the server."""
    mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(json={**bundle("c2"), "total": 2})
    first = {**bundle("c1", next_url=f"{BASE}/Condition?page=2"), "total": 2}
    result = await resolve_key(how, first, mock)
    assert result.unavailable == {} and ids(result.resources["conditions"]) == ["c1", "c2"]


@pytest.mark.parametrize("how", HOW)
async def test_included_resources_do_not_count_towards_total(mock: respx.MockRouter, how: str) -> None:
    """total 2 with one MedicationRequest and one included Medication is one match short: incomplete."""
    body = medication_bundle(total=2)
    result = await resolve_key(how, body, mock, {"patient": TEMPLATES["patient"], **MEDICATIONS})
    assert result.unavailable == {"medicationRequests": "incomplete"}


@pytest.mark.parametrize("how", HOW)
async def test_failed_entry_status_makes_the_key_incomplete(mock: respx.MockRouter, how: str) -> None:
    """An entry whose response.status is not 2xx: entry-failed, the matches kept as evidence."""
    failed = {"response": {"status": "500 Internal Server Error", "outcome": outcome("error")}}
    result = await resolve_key(how, with_entries(bundle("c1"), failed), mock)
    assert result.unavailable == {"conditions": "entry-failed"}
    assert ids(result.resources["conditions"]) == ["c1"]


# ------------------------------------------------------------------------------ not understood


NOT_A_CONDITION_SEARCH = {
    "Observations": bundle("t9", kind="Observation"),
    "batch-response": {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"response": {"status": "500 Internal Server Error", "outcome": outcome("error")}}],
    },
    "history": {**bundle("c1"), "type": "history"},
    "Conditions and a Patient": with_entries(bundle("c1"), {"resource": PATIENT, "search": {"mode": "match"}}),
}


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("name", NOT_A_CONDITION_SEARCH)
async def test_a_bundle_that_answers_another_query_is_not_read(mock: respx.MockRouter, how: str, name: str) -> None:
    """Matches of another type, or a Bundle that is no search result: wrong-type, nothing of it read (not "none found")."""
    result = await resolve_key(how, copy.deepcopy(NOT_A_CONDITION_SEARCH[name]), mock)
    assert result.unavailable == {"conditions": "wrong-type"}
    assert "conditions" not in result.resources


async def test_a_supplied_resource_of_another_type_is_not_read(mock: respx.MockRouter) -> None:
    """The conditions key holding a Patient is not understood: wrong-type, not read and not queried again."""
    result = await resolve(make_request({"patient": PATIENT, "conditions": {"resourceType": "Patient", "id": PATIENT_ID}}))
    assert result.unavailable == {"conditions": "wrong-type"} and "conditions" not in result.resources
    assert not mock.calls


async def test_a_later_page_of_another_type_drops_the_key(mock: respx.MockRouter) -> None:
    """A fetched search whose second page holds Observations is not understood: its first page is not read either."""
    mock.get(f"{BASE}/Condition", params={"page": "2"}).respond(json=bundle("t9", kind="Observation"))
    mock.get(f"{BASE}/Condition").respond(json=bundle("c1", next_url=f"{BASE}/Condition?page=2"))
    result = await resolve(make_request({"patient": PATIENT}))
    assert result.unavailable == {"conditions": "wrong-type"} and "conditions" not in result.resources


# ------------------------------------------------------------------------------ what stays readable


def medication_bundle(total: int = 1) -> dict[str, Any]:
    """A MedicationRequest search with its _include'd Medication, as servers send it: one marked include, one unmarked."""
    request = {
        "resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT_ID}"}, "medicationReference": {"reference": "Medication/med1"},
    }  # fmt: skip
    medication = {"resourceType": "Medication", "id": "med1", "code": concept(RXNORM, "197806", "Ibuprofen 600 MG Oral Tablet")}
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "entry": [
            {"resource": request, "search": {"mode": "match"}},
            {"resource": medication, "search": {"mode": "include"}},
            {"resource": {**medication, "id": "med2"}},
        ],
    }


@pytest.mark.parametrize("how", HOW)
async def test_a_normal_searchset_with_includes_and_a_warning_reads_whole(mock: respx.MockRouter, how: str) -> None:
    """Matches, _include'd Medications (marked include or not) and a warning OperationOutcome: read whole."""
    body = with_entries(medication_bundle(), {"resource": outcome("warning"), "search": {"mode": "outcome"}})
    result = await resolve_key(how, body, mock, {"patient": TEMPLATES["patient"], **MEDICATIONS})
    assert result.unavailable == {}
    assert ids(result.resources["medicationRequests"]) == ["mr1", "med1", "med2"]


@pytest.mark.parametrize("how", HOW)
async def test_an_include_the_query_did_not_ask_for_is_passed_over(mock: respx.MockRouter, how: str) -> None:
    """An entry marked include of a type the query names in no _include is not read; the matches are whole."""
    body = with_entries(bundle("c1"), {"resource": PATIENT, "search": {"mode": "include"}}, total=1)
    result = await resolve_key(how, body, mock)
    assert result.unavailable == {} and ids(result.resources["conditions"]) == ["c1"]


async def test_the_client_raises_and_keeps_the_pages_read(mock: respx.MockRouter) -> None:
    """FhirClient.search raises a FhirIncompleteSearch, and ``into`` holds the matches of the pages read."""
    mock.get(f"{BASE}/Condition").respond(json=with_entries(bundle("c1"), {"resource": outcome("fatal")}))
    into: list[dict[str, Any]] = []
    async with httpx.AsyncClient() as http:
        with pytest.raises(FhirSearchError) as raised:
            await FhirClient(http, max_pages=3, max_response_bytes=100_000).search(BASE, "Condition?patient=p", TOKEN, into)
    assert isinstance(raised.value, FhirIncompleteSearch) and ids(into) == ["c1"]


# ------------------------------------------------------------------------------ through the service

SELECT = "/cds-services/neck-pain-order-select"
REASSURING = {"imaging-without-red-flags", "physical-therapy-first"}
MRI = service_order("72141", "MRI cervical spine without contrast", oid="mri")
PT_EVALUATION = service_order("97161", "Physical therapy evaluation, low complexity", oid="pt")
NECK_PAIN = [patient(59), condition("M54.2", "Cervicalgia", onset_days=7, cid="pain")]
UNREAD_CONDITIONS = {  # how the conditions key is broken → the reason
    "error outcome": (lambda b: with_entries(b, {"resource": outcome("error"), "search": {"mode": "outcome"}}), "search-error"),
    "total 5": (lambda b: {**b, "total": 5}, "incomplete"),
    "a Patient": (lambda b: {"resourceType": "Patient", "id": "p1"}, "wrong-type"),
    "Observations": (
        lambda b: {**b, "entry": [{"resource": observation("8310-5", "Body temperature", 36.8, "Cel", "t9", 1)}]},
        "wrong-type",
    ),
    "batch-response": (lambda b: NOT_A_CONDITION_SEARCH["batch-response"], "wrong-type"),
}


def hook_call(orders: list[dict[str, Any]], how: str, broken: str | None, mock: respx.MockRouter) -> dict[str, Any]:
    """A neck-pain patient's hook request whose conditions key is broken as ``broken`` says, sent or fetched."""
    body = hook_body(NECK_PAIN, orders)
    conditions = body["prefetch"]["conditions"]
    if broken is not None:
        conditions = UNREAD_CONDITIONS[broken][0](conditions)
    if how == "fetched":
        del body["prefetch"]["conditions"]
        mock.get(f"{BASE}/Condition").respond(json=conditions)
        body.update(fhirServer=BASE, fhirAuthorization=bearer_authorization(TOKEN))
    else:
        body["prefetch"]["conditions"] = conditions
    return body


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("broken", UNREAD_CONDITIONS)
def test_unread_conditions_withhold_reassurance_and_rating(client: TestClient, mock: respx.MockRouter, how: str, broken: str) -> None:
    """A cervical MRI (in scope by itself) with the Conditions not wholly read: no reassuring card and no rating; counted by reason."""
    whole = client.post(SELECT, json=hook_call([MRI], how, None, mock)).json()
    assert REASSURING <= set(topics(whole)) and ratings(whole) == {"mri": "not-appropriate"}
    answer = client.post(SELECT, json=hook_call([MRI], how, broken, mock))
    assert answer.status_code == 200, answer.text
    assert not REASSURING & set(topics(answer.json())) and ratings(answer.json()) == {}
    reason = UNREAD_CONDITIONS[broken][1]
    assert metric(client, "cds_prefetch_unavailable_total", key="conditions", reason=reason) == 1


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("broken", ["a Patient", "Observations", "batch-response"])
def test_conditions_not_understood_for_a_physical_therapy_order_is_412(
    client: TestClient, mock: respx.MockRouter, how: str, broken: str
) -> None:
    """A PT order only the Conditions could put in scope, the Conditions not understood: 412 naming the key and reason."""
    response = client.post(SELECT, json=hook_call([PT_EVALUATION], how, broken, mock))
    assert response.status_code == 412, response.text
    (issue,) = response.json()["issue"]
    assert issue["expression"] == ["prefetch.conditions"] and f"({UNREAD_CONDITIONS[broken][1]})" in issue["diagnostics"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("broken", ["error outcome", "total 5"])
def test_conditions_read_in_part_still_put_the_call_in_scope(client: TestClient, mock: respx.MockRouter, how: str, broken: str) -> None:
    """The neck-pain Condition of a search that says it is not whole still puts a PT order in scope: 200, the key counted unread."""
    response = client.post(SELECT, json=hook_call([PT_EVALUATION], how, broken, mock))
    assert response.status_code == 200, response.text
    reason = UNREAD_CONDITIONS[broken][1]
    assert metric(client, "cds_prefetch_unavailable_total", key="conditions", reason=reason) == 1


def test_a_patient_key_holding_another_type_is_412(client: TestClient) -> None:
    """The patient key holding a Condition is not understood: 412 naming prefetch.patient and wrong-type."""
    body = hook_body(NECK_PAIN, [MRI])
    body["prefetch"]["patient"] = condition("M54.2", "Cervicalgia", onset_days=7, system=ICD10)
    response = client.post(SELECT, json=body)
    assert response.status_code == 412
    (issue,) = response.json()["issue"]
    assert issue["expression"] == ["prefetch.patient"] and "(wrong-type)" in issue["diagnostics"]
