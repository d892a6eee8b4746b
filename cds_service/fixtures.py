"""Fixture patients and hook requests under ``fhir_fixtures/``, with dates that never go stale.

Fixture files are plain FHIR R4 / CDS Hooks JSON written as if today were ``ANCHOR_DATE``.
A request names its patient (``fixturePatient``) and the cards it must produce
(``fixtureExpected``: rule id → indicator, and rule ids that must not fire); both keys are
removed from the request the service sees. ``lint-cards`` and the vignette tests read the same
expectation.
Loading one shifts every date and dateTime in it by (today − ANCHOR_DATE) days, so ages,
durations and look-back windows stay exactly as written whatever day the tests run.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from cds_service.facts.medrefs import referenced
from cds_service.settings import BUNDLED_FIXTURES_DIR

ANCHOR_DATE = date(2026, 1, 1)
FIXTURES_DIR = BUNDLED_FIXTURES_DIR  # the settings default (CDS_FIXTURES_DIR)
PATIENTS = "patients"
REQUESTS = "requests"

EXPECTED_KEY = "fixtureExpected"


class Expected(BaseModel):
    """What a fixture request must produce: exactly these rule ids with these indicators."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    cards: dict[str, Literal["info", "warning", "critical"]]
    must_not_fire: tuple[str, ...] = Field(default=(), alias="mustNotFire")


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$")


def shift_dates(value: Any, days: int) -> Any:
    """A copy of ``value`` with every full date or dateTime string moved by ``days``."""
    if isinstance(value, dict):
        return {key: shift_dates(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_dates(item, days) for item in value]
    if isinstance(value, str) and days and _DATE.match(value):
        return _shift_one(value, days)
    return value


def _shift_one(text: str, days: int) -> str:
    if "T" not in text:
        return (date.fromisoformat(text) + timedelta(days=days)).isoformat()
    moved = datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(days=days)
    out = moved.isoformat()
    return out.replace("+00:00", "Z") if text.endswith("Z") else out


def offset_days(today: date | None = None) -> int:
    """How many days fixture dates move to be relative to ``today``."""
    return ((today or date.today()) - ANCHOR_DATE).days


def _read(path: Path, today: date | None) -> dict[str, Any]:
    document: dict[str, Any] = shift_dates(orjson.loads(path.read_bytes()), offset_days(today))
    return document


def fixture_names(kind: str = PATIENTS, root: Path = FIXTURES_DIR) -> list[str]:
    """The fixture names of one kind (file stems), sorted."""
    return sorted(p.stem for p in (root / kind).glob("*.json"))


def load_patient(name: str, today: date | None = None, root: Path = FIXTURES_DIR) -> dict[str, Any]:
    """A fixture patient's Bundle (Patient first, then its resources), dates made current."""
    return _read(root / PATIENTS / f"{name}.json", today)


def load_request(name: str, today: date | None = None, root: Path = FIXTURES_DIR) -> dict[str, Any]:
    """A fixture hook request (CDS Hooks JSON), dates made current."""
    return _read(root / REQUESTS / f"{name}.json", today)


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries, in order."""
    return [e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict) and "resource" in e]


def prefetch_for(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A complete prefetch for the declared templates from a patient's resources (as an EHR would send)."""
    from cds_service.protocol.services import PATIENT_KEY, PREFETCH

    out: dict[str, Any] = {}
    for query in PREFETCH:
        resource_type = query.template.split("?")[0].split("/")[0]
        matching = [r for r in resources if r.get("resourceType") == resource_type]
        if query.key == PATIENT_KEY:
            out[query.key] = matching[0] if matching else None
            continue
        entries = [{"fullUrl": f"{r['resourceType']}/{r.get('id')}", "resource": r} for r in matching]
        if "_include=" in query.template:  # the Medications the matches reference, as _include adds them
            refs = {referenced(r) for r in matching}
            entries += [
                {"fullUrl": f"Medication/{r.get('id')}", "resource": r, "search": {"mode": "include"}}
                for r in resources
                if r.get("resourceType") == "Medication" and f"Medication/{r.get('id')}" in refs
            ]
        out[query.key] = {"resourceType": "Bundle", "type": "searchset", "total": len(matching), "entry": entries}
    return out


def hook_request(
    name: str, today: date | None = None, *, with_prefetch: bool = True, root: Path = FIXTURES_DIR
) -> dict[str, Any]:
    """A fixture hook request; its prefetch is built from the patient it names (``patient`` key)."""
    request = load_request(name, today, root)
    patient_name = request.pop("fixturePatient", None)
    request.pop(EXPECTED_KEY, None)
    if with_prefetch and patient_name:
        request["prefetch"] = prefetch_for(bundle_resources(load_patient(patient_name, today, root)))
    return request


def expected_outcome(name: str, root: Path = FIXTURES_DIR) -> Expected | None:
    """The cards a fixture request must produce (``fixtureExpected``); None when it states none.
    A malformed expectation raises ``pydantic.ValidationError``."""
    document = orjson.loads((root / REQUESTS / f"{name}.json").read_bytes())
    raw = document.get(EXPECTED_KEY) if isinstance(document, dict) else None
    return None if raw is None else Expected.model_validate(raw)
