"""Record entries that cannot be read at all (no known type, no readable code) are not absent: under a
key that could show a red flag they withhold the reassuring cards, and every card shown says so."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ICD10, condition, hook_body, patient, procedure, topics
from tests.contract.test_uncertain_record import MRI, REASSURING, RECENT_MRI, URL, call, withheld

MARK = "Quagmirexyz"  # stands for a patient's name a client put where it does not belong
NOTE_CONDITION = "Could not be read or recognised:** 1 Condition(s) — red flags cannot be excluded."


def malignancy() -> dict[str, Any]:
    return condition("C79.51", "Secondary malignant neoplasm of bone", 60, "c2")


def call_with(client: TestClient, key: str, entry: dict[str, Any]) -> dict[str, Any]:
    """``call`` with a recent MRI on record and ``entry`` added to the prefetch Bundle under ``key``."""
    body = hook_body([patient(59), condition("M54.2", "Cervicalgia", onset_days=7), RECENT_MRI], [MRI])
    body["prefetch"][key]["entry"].append({"resource": entry})
    response = client.post(URL, json=body)
    assert response.status_code == 200
    return dict(response.json())


UNREADABLE_CONDITIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "resourceType in lower case": lambda c: c.update(resourceType="condition"),
    "no resourceType": lambda c: c.pop("resourceType"),
    "resourceType a client's text": lambda c: c.update(resourceType=MARK),
    "code a bare Coding": lambda c: c.update(code={"system": ICD10, "code": "C79.51", "display": "Secondary malignant neoplasm of bone"}),
    "code a string": lambda c: c.update(code="C79.51"),
    "code with numeric codes only": lambda c: c.update(code={"coding": [{"system": ICD10, "code": 7951}]}),
}


@pytest.mark.parametrize("change", UNREADABLE_CONDITIONS.values(), ids=UNREADABLE_CONDITIONS.keys())
def test_unreadable_condition_withholds_reassurance_and_the_cards_say_so(
    client: TestClient, caplog: pytest.LogCaptureFixture, change: Callable[[dict[str, Any]], Any]
) -> None:
    """A malignancy Condition that cannot be read at all silences both reassuring cards; the card shown says 1 Condition could not be read."""
    baseline = call(client, RECENT_MRI)
    assert REASSURING <= set(topics(baseline)) and "imaging-modality" in topics(baseline)
    unreadable = malignancy()
    change(unreadable)
    with caplog.at_level(logging.WARNING):
        answer = call_with(client, "conditions", unreadable)
    assert not REASSURING & set(topics(answer))
    modality = next(c for c in answer["cards"] if c["source"]["topic"]["code"] == "imaging-modality")
    assert NOTE_CONDITION in modality["detail"]
    assert withheld(client, "imaging-without-red-flags", "unreadable") == 1
    assert withheld(client, "physical-therapy-first", "unreadable") == 1
    [logged] = [getattr(r, "unreadable") for r in caplog.records if r.getMessage() == "unreadable record entries"]
    assert set(logged) <= {"conditions.resourceType", "conditions.code"} and sum(logged.values()) == 1
    assert MARK not in caplog.text and MARK not in json.dumps(answer)


def test_unreadable_medication_withholds_reassurance(client: TestClient) -> None:
    """A MedicationStatement whose medicationCodeableConcept is a bare string could be a steroid: no reassurance, '1 medication(s)'."""
    statement = {
        "resourceType": "MedicationStatement", "id": "ms1", "status": "active", "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": "prednisone 20 mg",
    }  # fmt: skip
    answer = call_with(client, "medicationStatements", statement)
    assert not REASSURING & set(topics(answer))
    assert any("1 medication(s) — red flags cannot be excluded" in c["detail"] for c in answer["cards"])


def test_entered_in_error_unreadable_entry_does_not_withhold(client: TestClient) -> None:
    """An unreadable entry whose JSON says entered-in-error says nothing: the reassuring cards still fire."""
    unreadable = malignancy()
    unreadable.update(resourceType="condition", verificationStatus={"coding": [{"code": "entered-in-error"}]})
    assert REASSURING <= set(topics(call_with(client, "conditions", unreadable)))


def test_entry_of_unknown_type_under_a_key_that_could_show_no_red_flag_is_logged_only(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry of no known type among the imaging studies (no red flag is read there) is logged by key, and reassures no less."""
    with caplog.at_level(logging.WARNING):
        answer = call_with(client, "imagingStudies", {"resourceType": MARK, "id": "i1"})
    assert REASSURING <= set(topics(answer))
    assert [getattr(r, "unreadable") for r in caplog.records if r.getMessage() == "unreadable record entries"] == [
        {"imagingStudies.resourceType": 1}
    ]
    assert MARK not in caplog.text


def test_unreadable_entry_that_could_show_no_red_flag_is_logged_only(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """A Procedure with a string code (the PT and imaging history are read from Procedures) is logged, and reassures no less."""
    prior = procedure("97110", "Therapeutic exercise", 400, "old-pt")
    prior["code"] = "97110"
    with caplog.at_level(logging.WARNING):
        answer = call_with(client, "procedures", prior)
    assert REASSURING <= set(topics(answer)) and "Could not be read" not in json.dumps(answer)
    assert [getattr(r, "unreadable") for r in caplog.records if r.getMessage() == "unreadable record entries"] == [{"procedures.code": 1}]


@pytest.mark.parametrize("shape", [lambda c: [c], json.dumps], ids=["resource a list", "resource a string"])
def test_an_entry_whose_resource_is_no_object_withholds_reassurance(
    client: TestClient, caplog: pytest.LogCaptureFixture, shape: Callable[[dict[str, Any]], Any]
) -> None:
    """A conditions entry whose resource is a list or a string could hold a red flag: no reassurance, and it is logged."""
    body = hook_body([patient(59), condition("M54.2", "Cervicalgia", onset_days=7), RECENT_MRI], [MRI])
    body["prefetch"]["conditions"]["entry"].append({"resource": shape(malignancy())})
    with caplog.at_level(logging.WARNING):
        response = client.post(URL, json=body)
    assert response.status_code == 200 and not REASSURING & set(topics(response.json()))
    assert any(r.getMessage() == "unreadable record entries" for r in caplog.records)
