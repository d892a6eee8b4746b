"""Shared test fixtures: an app on the bundled content, and request builders."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.fixtures import prefetch_for
from cds_service.settings import BUNDLED_CONTENT_DIR, Settings

DATA = Path(__file__).parent / "data"
TODAY = date.today()
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        content_dir=BUNDLED_CONTENT_DIR,
        content_poll_seconds=0,
        auth_mode="off",
        feedback_db_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        prefetch_deadline_seconds=2.0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def days_ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def patient(age: int = 45, pid: str = "p1") -> dict[str, Any]:
    born = TODAY.replace(year=TODAY.year - age) - timedelta(days=30)
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": born.isoformat()}


def condition(code: str, display: str, onset_days: int, cid: str = "c1", system: str = ICD10) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "onsetDateTime": days_ago(onset_days),
    }


def service_order(code: str, display: str, oid: str = "o1", system: str = CPT) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
    }


def medication_order(rxcui: str, display: str, oid: str = "m1", days: int = 7, per_day: int = 3) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui, "display": display}], "text": display},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}}],
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}},
    }


def hook_body(
    resources: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    hook: str = "order-select",
    selections: list[str] | None = None,
) -> dict[str, Any]:
    """A complete hook request with every prefetch key filled from ``resources``."""
    context: dict[str, Any] = {
        "userId": "Practitioner/example",
        "patientId": "p1",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]},
    }
    if hook == "order-select":
        context["selections"] = selections or [f"{o['resourceType']}/{o['id']}" for o in orders]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch_for(copy.deepcopy(resources)),
    }


def topics(response_json: dict[str, Any]) -> dict[str, str]:
    """rule id → indicator for each card."""
    return {c["source"]["topic"]["code"]: c["indicator"] for c in response_json["cards"]}
