"""Two resources under one reference: a different one is read too, so a red flag in either counts; the
same resource given twice is read once."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.content.store import ContentStore
from cds_service.facts.record import select_record
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import ICD10, condition, hook_body, patient, service_order, topics
from tests.contract.test_ratings import ratings

SELECT = "/cds-services/neck-pain-order-select"
SNOMED = "http://snomed.info/sct"
REASSURING = {"imaging-without-red-flags", "physical-therapy-first"}
MRI = service_order("72141", "MRI cervical spine without contrast", oid="mri")
PAIN = condition("M54.2", "Cervicalgia", 7, "c1")
RED_FLAGS = {  # another Condition under the same id as the neck pain
    "ICD-10-CM malignancy": condition("C79.51", "Secondary malignant neoplasm of bone", 30, "c1"),
    "SNOMED CT malignancy": condition("363346000", "Malignant neoplastic disease", 30, "c1", system=SNOMED),
    "ICD-10-CM fever": condition("R50.9", "Fever, unspecified", 2, "c1"),
    "SNOMED CT fever": condition("386661006", "Fever", 2, "c1", system=SNOMED),
}


def post(client: TestClient, *resources: dict[str, Any]) -> dict[str, Any]:
    response = client.post(SELECT, json=hook_body([patient(59), *copy.deepcopy(resources)], [MRI]))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("first", [True, False], ids=["red-flag-second", "red-flag-first"])
@pytest.mark.parametrize("name", RED_FLAGS)
def test_a_red_flag_under_the_neck_pains_id_counts(shared_client: TestClient, name: str, first: bool) -> None:
    """Cervicalgia and a malignancy or fever both as Condition/c1, in either order: a red flag, never "no red flags"."""
    red_flag = RED_FLAGS[name]
    answer = post(shared_client, *((PAIN, red_flag) if first else (red_flag, PAIN)))
    assert not REASSURING & set(topics(answer)) and "not-appropriate" not in ratings(answer).values()
    (modality,) = [c for c in answer["cards"] if c["source"]["topic"]["code"] == "imaging-modality"]
    assert re.search(rf"{re.escape(red_flag['code']['text'])}(?: on \S+)? \(Condition/c1\)", modality["detail"])


def test_the_same_resource_twice_is_read_once(caplog: pytest.LogCaptureFixture) -> None:
    """An identical copy of a Condition (in two keys, or twice in one) gives one record entry and no conflict logged."""
    caplog.set_level(logging.INFO, logger="cds_service")
    index = ContentStore(BUNDLED_CONTENT_DIR).current.index
    record = select_record({"conditions": [PAIN, copy.deepcopy(PAIN)], "more": [copy.deepcopy(PAIN)]}, index, "p1")
    assert [e.ref for e in record.candidates] == ["Condition/c1"]
    assert not [r for r in caplog.records if "under one reference" in r.getMessage()]


def test_different_resources_under_one_reference_are_logged_as_a_count(caplog: pytest.LogCaptureFixture) -> None:
    """Both different resources are record entries; the log gives their count, never the reference or a display."""
    caplog.set_level(logging.INFO, logger="cds_service")
    index = ContentStore(BUNDLED_CONTENT_DIR).current.index
    malignancy = RED_FLAGS["ICD-10-CM malignancy"]
    record = select_record({"conditions": [patient(59), PAIN, copy.deepcopy(malignancy)]}, index, "p1")
    assert [e.display for e in record.candidates] == ["Cervicalgia", "Secondary malignant neoplasm of bone"]
    (logged,) = [r for r in caplog.records if "under one reference" in r.getMessage()]
    assert logged.__dict__["conflicting_count"] == 1
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "c1" not in text and "neoplasm" not in text and ICD10 not in text
