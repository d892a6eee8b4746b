"""Shared test fixtures: apps on the bundled content, and request builders."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.fixtures import prefetch_for
from cds_service.settings import BUNDLED_CONTENT_DIR, Settings

DATA = Path(__file__).parent / "data"
TODAY = date.today()
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


LOCAL_FHIR_HOSTS = ["127.0.0.1"]
"""The local FHIR test server's host: loopback and plain http are refused unless listed in
``fhir_allowed_hosts`` (``CDS_FHIR_ALLOWED_HOSTS``), so tests against it list it."""


def app_settings(directory: Path, **overrides: Any) -> Settings:
    """Settings on the bundled content (auth off, no polling, no memory of cards shown) with a SQLite
    feedback file in ``directory``."""
    values: dict[str, Any] = {
        "content_dir": BUNDLED_CONTENT_DIR,
        "content_poll_seconds": 0,
        "auth_mode": "off",
        "feedback_db_url": f"sqlite:///{directory / 'feedback.sqlite3'}",
        "prefetch_deadline_seconds": 2.0,
        "feedback_state_dir": directory / "recorder-state",
        "card_repeat_window_seconds": 0,  # off: one test's call never makes another's a repeat (tests of repeats set it)
    }
    return Settings(**{**values, **overrides})


@contextmanager
def running_app(settings: Settings) -> Iterator[TestClient]:
    """The app on ``settings``, started; a server error answers 500 instead of raising in the test."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return app_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A new app for this test alone: for tests that change or inspect its state."""
    with running_app(settings) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the whole session (content loaded once), for tests that change nothing in it and read no
    state that earlier requests leave behind (metrics, stored cards and feedback, replay records)."""
    with running_app(app_settings(tmp_path_factory.mktemp("shared-app"))) as test_client:
        yield test_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    """A respx router for the test's outgoing HTTP; routes it declares need not all be called."""
    with respx.mock(assert_all_called=False) as router:
        yield router


def days_ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def patient(age: int = 45, pid: str = "p1") -> dict[str, Any]:
    born = TODAY.replace(year=TODAY.year - age) - timedelta(days=30)
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": born.isoformat()}


def concept(system: str, code: str, display: str) -> dict[str, Any]:
    """A CodeableConcept of one coding whose text is its display."""
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def condition(code: str, display: str, onset_days: int, cid: str = "c1", system: str = ICD10) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": concept(system, code, display),
        "onsetDateTime": days_ago(onset_days),
    }


def procedure(code: str, display: str, days: int, pid: str) -> dict[str, Any]:
    """A completed CPT-coded Procedure performed ``days`` ago."""
    return {
        "resourceType": "Procedure",
        "id": pid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": concept(CPT, code, display),
        "performedDateTime": days_ago(days),
    }


def observation(code: str, display: str, value: float, unit: str, oid: str, days: int) -> dict[str, Any]:
    """A final LOINC-coded Observation with a UCUM quantity, taken ``days`` ago."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "effectiveDateTime": days_ago(days),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def draft_order(resource_type: str, oid: str, **fields: Any) -> dict[str, Any]:
    """A draft order resource of ``resource_type`` for Patient/p1, with ``fields`` after the common ones."""
    return {
        "resourceType": resource_type,
        "id": oid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        **fields,
    }


def service_order(code: str, display: str, oid: str = "o1", system: str = CPT) -> dict[str, Any]:
    return draft_order("ServiceRequest", oid, code=concept(system, code, display))


def medication_order(rxcui: str, display: str, oid: str = "m1", days: int = 7, per_day: int = 3) -> dict[str, Any]:
    return draft_order(
        "MedicationRequest",
        oid,
        medicationCodeableConcept=concept(RXNORM, rxcui, display),
        dosageInstruction=[
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": UCUM, "code": "{tbl}"}}],
            }
        ],
        dispenseRequest={"expectedSupplyDuration": {"value": days, "unit": "days", "system": UCUM, "code": "d"}},
    )


def bearer_authorization(access_token: str, **extra: Any) -> dict[str, Any]:
    """A request's ``fhirAuthorization``: a Bearer token with read access to the patient's record."""
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
        **extra,
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
