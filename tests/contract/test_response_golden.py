"""Rendering keeps every response byte: each fixture request, Sandbox request and request of the
benchmark suite (``bench/field.py``, as of a fixed day) answers exactly the JSON recorded in
``tests/data/response_golden.json``, and the preview tools' rendering of shadow rules too. Random ids are numbered in order of first
appearance. After a deliberate change of wording or cards, rewrite the file with
``UPDATE_RESPONSE_GOLDEN=1 .venv/bin/python -m pytest tests/contract/test_response_golden.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.field import SELECT, SIGN, VITALS_PATIENT, drafted, synthea_picks, templates, vitals_record
from bench.records import hook_request as typical_request
from cds_service.content.loader import ContentSet, load_content
from cds_service.fixtures import REQUESTS, fixture_names, hook_request, prefetch_for
from cds_service.hooks.handler import handle_hook
from cds_service.preview.simulate import service_for
from cds_service.protocol.models import CDSRequest
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.ehr import prefetch_from_templates
from tests.realworld import records as synthea

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "response_golden.json"
SANDBOX = Path(__file__).resolve().parents[1] / "data" / "sandbox-requests"
TODAY = date(2026, 3, 1)
BASE_URL = "https://cds.example.org"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@cache
def content() -> ContentSet:
    return load_content(BUNDLED_CONTENT_DIR)


def numbered(raw: bytes) -> str:
    """``raw`` with each version-4 UUID replaced by its number in order of first appearance."""
    seen: dict[bytes, bytes] = {}
    return UUID.sub(lambda m: seen.setdefault(m.group(), b"uuid-%d" % (len(seen) + 1)), raw).decode()


def unrecognised(patient_id: str) -> list[dict[str, Any]]:
    """A cancer Condition and an immunosuppressant (one immunosuppressant-drugs does not list) coded in a local
    system no value set knows."""
    local = "http://hospital.example.org/codes"
    subject = {"reference": f"Patient/{patient_id}"}
    active = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
    return [
        {
            "resourceType": "Condition",
            "id": "local-condition",
            "subject": subject,
            "clinicalStatus": active,
            "code": {"coding": [{"system": local, "code": "L-123"}], "text": "Primary malignant neoplasm of colon"},
        },
        {
            "resourceType": "MedicationStatement",
            "id": "local-medication",
            "status": "active",
            "subject": subject,
            "medicationCodeableConcept": {"coding": [{"system": local, "code": "T-1", "display": "Fingolimod 0.5 MG Oral Capsule"}]},
        },
    ]


@cache
def requests() -> dict[str, dict[str, Any]]:
    """Every request of the golden file, by name."""
    out = {f"fixture/{name}": hook_request(name, TODAY) for name in fixture_names(REQUESTS)}
    for path in sorted(SANDBOX.glob("*.json")):
        request = orjson.loads(path.read_bytes())
        request.pop("fhirServer", None)
        request.pop("fhirAuthorization", None)
        out[f"sandbox/{path.stem}"] = request
    vitals = drafted(SELECT, VITALS_PATIENT, [synthea.cyclobenzaprine(VITALS_PATIENT)])
    vitals["prefetch"] = prefetch_for(vitals_record(150, TODAY))
    out["bench/vitals-150"] = vitals
    out["bench/typical-150"] = typical_request(150, TODAY)
    unread = drafted(
        SELECT, VITALS_PATIENT, [make(VITALS_PATIENT) for make in (synthea.mri_cervical, synthea.cyclobenzaprine, synthea.ibuprofen)]
    )
    unread["prefetch"] = prefetch_for([*vitals_record(150, TODAY), *unrecognised(VITALS_PATIENT)])
    out["uncertain/vitals-150-mri-relaxant-nsaid"] = unread
    picks = synthea_picks()
    for name, pick, service, makers in (
        ("synthea-median-nsaid", "median", SELECT, (synthea.ibuprofen,)),
        ("synthea-median-opioid", "median", SIGN, (synthea.oxycodone,)),
        ("synthea-p90-select", "p90", SELECT, (synthea.cyclobenzaprine, synthea.ibuprofen)),
        ("synthea-p90-sign", "p90", SIGN, (synthea.cyclobenzaprine, synthea.ibuprofen)),
        ("synthea-largest-mri", "largest", SELECT, (synthea.mri_cervical,)),
    ):
        record = picks[pick]
        request = drafted(service, record.patient_id, [make(record.patient_id) for make in makers])
        resources = [*record.resources, synthea.neck_pain(record.patient_id, "icd", TODAY)]
        request["prefetch"] = prefetch_from_templates(templates()[service], record.patient_id, resources)
        out[f"bench/{name}"] = request
    return out


def answered(request: dict[str, Any]) -> dict[str, str]:
    """The hook response's bytes, and every finding as the preview tools render it (shadow ones too)."""
    parsed = CDSRequest.model_validate(request)
    service = service_for(parsed.hook)
    outcome = asyncio.run(handle_hook(service, parsed, content(), None, 1.0, BASE_URL, TODAY))
    preview = asyncio.run(handle_hook(service, parsed, content(), None, 1.0, BASE_URL, TODAY, render_shadow=True))
    rendered = [
        {"rule": r.rule_id, "mode": r.mode, "card": r.card.to_wire() if r.card else None, "error": r.error} for r in preview.results
    ]
    return {"response": numbered(outcome.response.wire_json()), "preview": numbered(orjson.dumps(rendered))}


@cache
def golden() -> dict[str, dict[str, str]]:
    if os.environ.get("UPDATE_RESPONSE_GOLDEN"):
        made = {name: answered(request) for name, request in requests().items()}
        GOLDEN.write_bytes(orjson.dumps(made, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    recorded: dict[str, dict[str, str]] = orjson.loads(GOLDEN.read_bytes())
    return recorded


def test_the_golden_file_covers_every_request() -> None:
    """The golden file holds every request of the set, and its responses show cards, suggestions and the uncertainty line."""
    assert set(golden()) == set(requests())
    everything = "".join(answer["response"] for answer in golden().values())
    for part in ('"suggestions"', '"links"', '"overrideReasons"', '"systemActions"', "Could not be read or recognised"):
        assert part in everything, part


@pytest.mark.parametrize("name", sorted(requests()))
def test_response_bytes_are_the_recorded_ones(name: str) -> None:
    """The response and the preview rendering of the request are byte for byte the recorded ones."""
    assert answered(requests()[name]) == golden()[name]
