"""Property-based tests (hypothesis) of FHIR parsing and the whole hook handler on random resource JSON.

Resources are random JSON shaped like FHIR: real resource types, the field names the code reads,
codes drawn from the service's own value sets (so they reach validation and the rules) and random
values of any JSON type anywhere. Nothing may raise, except the handler's documented 4xx errors.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.content.loader import ContentSet, load_content
from cds_service.errors import ServiceError
from cds_service.facts.orders import screen, validated_orders
from cds_service.facts.record import select_record
from cds_service.fhir.parse import parse_resource
from cds_service.hooks.handler import handle_hook
from cds_service.hooks.routes import parse_request
from cds_service.protocol.services import SERVICES_BY_ID
from cds_service.settings import BUNDLED_CONTENT_DIR

CONTENT: ContentSet = load_content(BUNDLED_CONTENT_DIR)
CODES = CONTENT.index.codes_of(sorted(CONTENT.terminology.valuesets))
ORDER_CODES = CONTENT.index.codes_of(
    ["imaging-mri-cervical-spine", "imaging-xr-cervical-spine", "imaging-ct-thoracic-spine", "physical-therapy",
     "muscle-relaxants-beers", "opioids", "nsaids", "epidural-steroid-injection", "spine-surgery"]
)  # fmt: skip
PAIN_CODES = CONTENT.index.codes_of(["neck-upper-back-pain", "cervical-radiculopathy", "malignancy", "fever-condition"])
TODAY = date(2026, 3, 1)
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))

RESOURCE_TYPES = [
    "Patient", "Condition", "Procedure", "MedicationRequest", "MedicationStatement", "Observation",
    "ServiceRequest", "ImagingStudy", "OperationOutcome", "Bundle", "Basic", "NoSuchType",
]  # fmt: skip
FIELDS = [
    "id", "status", "intent", "subject", "reference", "code", "coding", "system", "display", "text", "category",
    "clinicalStatus", "verificationStatus", "onsetDateTime", "onsetPeriod", "start", "end", "abatementDateTime",
    "performedDateTime", "performedPeriod", "effectiveDateTime", "authoredOn", "occurrenceDateTime", "started",
    "birthDate", "gender", "valueQuantity", "value", "unit", "medicationCodeableConcept", "dosageInstruction",
    "timing", "repeat", "frequency", "period", "periodUnit", "boundsDuration", "doseAndRate", "doseQuantity",
    "dispenseRequest", "expectedSupplyDuration", "numberOfRepeatsAllowed", "quantity", "route", "procedureCode",
    "reasonCode", "bodySite", "note", "extension", "entry", "resource", "link", "relation", "url",
]  # fmt: skip
DATES = st.sampled_from(["2025-12-01", "2026-02-27", "1950-01-01", "2026-02", "2026", "0001-01-01", "9999-12-31",
                         "2026-02-27T10:00:00Z", "2026-02-30", "yesterday", ""])  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    DATES,
    st.sampled_from(["active", "draft", "completed", "entered-in-error", "order", "d", "mg", "final"]),
)
def codings(pairs: list[tuple[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda pair, display: {"system": pair[0], "code": pair[1], "display": display}, st.sampled_from(pairs), st.text(max_size=20))


coding = codings(CODES)
RELEVANT = {"Condition": codings(PAIN_CODES), "ServiceRequest": codings(ORDER_CODES), "MedicationRequest": codings(ORDER_CODES)}
concept = st.one_of(
    st.builds(lambda codings, text: {"coding": codings, "text": text}, st.lists(coding, max_size=3), st.text(max_size=30)),
    coding,  # a bare Coding where a CodeableConcept belongs
)
json_values = st.recursive(
    st.one_of(scalars, concept),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def resources(draw: st.DrawFn) -> Any:
    """A FHIR-shaped resource with random content, or now and then any JSON value at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    body: dict[str, Any] = {"resourceType": draw(st.sampled_from(RESOURCE_TYPES)), "id": draw(st.sampled_from(["p1", "x1", "o1", "m1"]))}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique=True)):
        if name in ("code", "medicationCodeableConcept", "procedureCode", "category", "clinicalStatus"):
            body[name] = draw(st.one_of(concept, json_values))
        elif name.endswith(("DateTime", "Date", "On")) or name == "started":
            body[name] = draw(st.one_of(DATES, json_values))
        else:
            body[name] = draw(json_values)
    if draw(st.booleans()):
        body["subject"] = {"reference": "Patient/p1"}
    return body


SKELETONS: dict[str, dict[str, Any]] = {
    "Condition": {"clinicalStatus": {"coding": [{"code": "active"}]}, "onsetDateTime": "2026-02-20"},
    "ServiceRequest": {"status": "draft", "intent": "order"},
    "MedicationRequest": {"status": "draft", "intent": "order", "authoredOn": "2026-02-27"},
    "Procedure": {"status": "completed", "performedDateTime": "2026-01-10"},
    "Observation": {"status": "final", "effectiveDateTime": "2026-02-25", "valueQuantity": {"value": 38.9, "unit": "Cel"}},
}
CODE_FIELD = {"MedicationRequest": "medicationCodeableConcept"}


@st.composite
def plausible(draw: st.DrawFn, resource_type: str | None = None, rid: str | None = None) -> dict[str, Any]:
    """A nearly valid resource coded from the value sets (so rules can fire), with a few random fields."""
    kind = resource_type or draw(st.sampled_from(sorted(SKELETONS)))
    body: dict[str, Any] = {"resourceType": kind, "id": rid or draw(st.sampled_from(["o1", "m1", "c1", "c2"]))}
    body.update(SKELETONS[kind])
    body["subject"] = {"reference": "Patient/p1"}
    body[CODE_FIELD.get(kind, "code")] = {"coding": [draw(st.one_of(RELEVANT.get(kind, coding), coding))]}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2, unique=True)):
        body[name] = draw(json_values)
    return body


def bundles(items: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A Bundle of ``items``, sometimes malformed, or a single resource, null or an OperationOutcome."""
    entry = st.one_of(st.builds(lambda r: {"resource": r}, items), json_values)
    return st.one_of(
        st.builds(lambda e: {"resourceType": "Bundle", "type": "searchset", "entry": e}, st.lists(entry, max_size=5)),
        st.builds(lambda e: {"resourceType": "Bundle", "entry": e}, json_values),
        items,
        st.none(),
        st.just({"resourceType": "OperationOutcome", "issue": []}),
    )


PREFETCH_KEYS = sorted(SERVICES_BY_ID["neck-pain-order-sign"].prefetch_templates(CONTENT.index))


@given(resources(), st.lists(st.sampled_from(RESOURCE_TYPES), max_size=3))
@FUZZ
def test_parse_resource_never_raises(raw: Any, expected: list[str]) -> None:
    """parse_resource returns a model or None for any JSON, whatever types are expected."""
    parse_resource(raw, tuple(expected))


@given(st.dictionaries(st.sampled_from(PREFETCH_KEYS), st.lists(resources(), max_size=6), max_size=8))
@FUZZ
def test_select_record_never_raises(by_key: dict[str, list[Any]]) -> None:
    """select_record classifies and validates any mix of resources without raising."""
    select_record(by_key, CONTENT.index, "p1")


@given(st.lists(st.one_of(st.builds(lambda r: {"resource": r}, resources()), json_values), max_size=6),
       st.one_of(st.none(), st.lists(st.sampled_from(["ServiceRequest/o1", "MedicationRequest/m1", "X/y"]), max_size=3)))
@FUZZ
def test_draft_orders_never_raise(entries: list[Any], selections: list[str] | None) -> None:
    """Screening and validating any draftOrders entries turns them into DraftOrders without raising."""
    validated_orders(screen(entries, selections, CONTENT.index), CONTENT.index)


def patient_resource(age_days: int) -> dict[str, Any]:
    born = date.fromordinal(TODAY.toordinal() - age_days).isoformat()
    return {"resourceType": "Patient", "id": "p1", "birthDate": born, "gender": "female"}


@given(
    service_id=st.sampled_from(sorted(SERVICES_BY_ID)),
    prefetch=st.one_of(
        st.fixed_dictionaries(  # every key answered: rules that need complete data can fire
            {"patient": st.integers(6_000, 36_000).map(patient_resource)}
            | {key: bundles(st.one_of(plausible(), resources())) for key in PREFETCH_KEYS if key != "patient"}
        ),
        st.fixed_dictionaries(
            {"patient": st.one_of(st.integers(6_000, 36_000).map(patient_resource), resources())},
            optional={key: bundles(st.one_of(plausible(), resources())) for key in PREFETCH_KEYS if key != "patient"},
        ),
    ),
    drafts=st.lists(
        st.one_of(
            st.builds(lambda r: {"resource": r}, plausible("ServiceRequest", "o1")),
            st.builds(lambda r: {"resource": r}, plausible("MedicationRequest", "m1")),
            st.builds(lambda r: {"resource": r}, resources()),
        ),
        max_size=4,
    ),
    selections=st.lists(st.sampled_from(["ServiceRequest/o1", "MedicationRequest/m1", "Procedure/x1"]), min_size=1, max_size=3),
    conditions=st.lists(plausible("Condition"), max_size=3),
)
@FUZZ
def test_handle_hook_never_raises_unexpectedly(
    service_id: str, prefetch: dict[str, Any], drafts: list[Any], selections: list[str], conditions: list[Any]
) -> None:
    """The whole handler on random prefetch and draft orders answers cards or a 4xx ServiceError, nothing else."""
    service = SERVICES_BY_ID[service_id]
    if conditions and "conditions" not in prefetch:
        prefetch["conditions"] = {"resourceType": "Bundle", "entry": [{"resource": c} for c in conditions]}
    context: dict[str, Any] = {
        "userId": "Practitioner/example",
        "patientId": "p1",
        "draftOrders": {"resourceType": "Bundle", "entry": drafts},
    }
    if service.hook == "order-select":
        context["selections"] = selections
    body = {"hook": service.hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}
    try:
        request = parse_request(body)  # a prefetch value that is no JSON object is the route's 400
        outcome = asyncio.run(handle_hook(service, request, CONTENT, None, 0.5, "http://testserver", today=TODAY))
    except ServiceError as error:
        assert 400 <= error.status < 500
        return
    body = outcome.response.to_wire()
    assert isinstance(body["cards"], list)
    for card in body["cards"]:
        assert 0 < len(card["summary"]) < 140 and card["source"]["topic"]["code"] in CONTENT.rules


@pytest.mark.parametrize("depth", [50, 200])
def test_parse_resource_survives_moderate_nesting(depth: int) -> None:
    """Nested values at depths a sloppy client might send are skipped or parsed, never raised on."""
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    assert parse_resource({"resourceType": "Condition", "id": "c1", "note": value}) is None
