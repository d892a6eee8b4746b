"""``preview``: orders from codes, files and fixture requests become a hook request; cards drawn in the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest
from typer.testing import CliRunner

from cds_service.cli import app
from cds_service.content.loader import ContentSet, load_content
from cds_service.preview.simulate import evaluate_request
from cds_service.preview.drafts import OrderError, assemble, order_from_code, parse_code
from cds_service.settings import BUNDLED_CONTENT_DIR
from cds_service.terminology import CPT, RXNORM, SNOMED

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "content_fixtures"


@pytest.fixture(scope="module")
def content() -> ContentSet:
    return load_content(BUNDLED_CONTENT_DIR)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("72141", (CPT, "72141")),
        ("828320", (RXNORM, "828320")),
        ("21949", (RXNORM, "21949")),  # cyclobenzaprine ingredient: 5 digits, but listed as RxNorm
        ("cpt|72141", (CPT, "72141")),
        ("snomed|91251008", (SNOMED, "91251008")),
        ("http://snomed.info/sct|91251008", (SNOMED, "91251008")),
        ("99999", (CPT, "99999")),  # unknown 5 characters: CPT-shaped
    ],
)
def test_codes_are_read_with_their_system(content: ContentSet, spec: str, expected: tuple[str, str]) -> None:
    """A bare code gets its system from the value sets, the RxNorm table, or its shape; system|code is explicit."""
    assert parse_code(spec, content) == expected


@pytest.mark.parametrize("spec", ["M54.2x!", "icd10cm|M54.2", "", "abc"])
def test_unusable_codes_are_refused(content: ContentSet, spec: str) -> None:
    """Codes that are not order codes, or whose system cannot be told, raise OrderError."""
    with pytest.raises(OrderError):
        parse_code(spec, content)


def test_code_orders_are_valid_r4_draft_resources(content: ContentSet) -> None:
    """CPT becomes a ServiceRequest and RxNorm a MedicationRequest, valid R4 with the table's display."""
    service = order_from_code("72141", content, "preview-1", "p1")
    medication = order_from_code("828320", content, "preview-2", "p1")
    assert ServiceRequest.model_validate(service).status == "draft"
    assert MedicationRequest.model_validate(medication).intent == "order"
    assert medication["medicationCodeableConcept"]["text"] == "Cyclobenzaprine hydrochloride 5 MG Oral Tablet"
    assert service["code"]["coding"][0] == {"system": CPT, "code": "72141", "display": service["code"]["text"]}


def test_assemble_takes_patient_and_hook_from_a_fixture_request(content: ContentSet) -> None:
    """A fixture request gives the patient, hook and selections; extra codes are added and selected."""
    built = assemble(content, requests=["vignette-2"], codes=["97110"], root=FIXTURES)
    context = built.request["context"]
    assert built.patient == "vignette-2" and built.request["hook"] == "order-select"
    refs = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in context["draftOrders"]["entry"]]
    assert len(refs) == 4 and "ServiceRequest/preview-1" in refs
    assert set(context["selections"]) == {"ServiceRequest/v2-mri-cervical", "ServiceRequest/v2-mri-thoracic", "ServiceRequest/preview-1"}
    assert context["patientId"] == "content-v2" and built.request["prefetch"]["patient"]["id"] == "content-v2"


def test_assemble_refuses_unknown_fixtures_and_missing_patient(content: ContentSet) -> None:
    """Unknown fixture names (never paths) and a missing patient are errors."""
    with pytest.raises(OrderError, match="no fixture patient"):
        assemble(content, patient="../patients/vignette-1", codes=["72141"], root=FIXTURES)
    with pytest.raises(OrderError, match="no fixture request"):
        assemble(content, requests=["nope"], root=FIXTURES)
    with pytest.raises(OrderError, match="name a fixture patient"):
        assemble(content, codes=["72141"], root=FIXTURES)


def test_order_codes_for_a_patient_evaluate_like_a_hook_call(content: ContentSet) -> None:
    """An MRI code for the vignette 2 patient yields the imaging warning through the real pipeline."""
    built = assemble(content, patient="vignette-2", codes=["72141"], hook="order-select", root=FIXTURES)
    evaluation = evaluate_request(content, built.request)
    cards = {r.rule_id: r.card.indicator for r in evaluation.results if r.card}
    assert cards["imaging-without-red-flags"] == "warning"
    assert evaluation.age == 66


def test_cli_preview_draws_each_card(tmp_path: Path) -> None:
    """`cds-service preview --patient X --order CODE` prints every card's indicator, summary and rule id."""
    result = CliRunner().invoke(
        app,
        ["preview", "--fixtures", str(FIXTURES), "--patient", "vignette-2", "--order", "72141", "--hook", "order-select"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "INFO" in result.output
    assert "imaging-without-red-flags" in result.output and "Cancel the imaging and refer to physical therapy" in result.output
    assert result.output.count("refer to physical therapy") + result.output.count("Refer to physical therapy") == 1  # one referral
    assert "Patient fixture vignette-2 (66 years) · hook order-select" in result.output


def test_cli_preview_reads_an_order_file_and_prints_json(tmp_path: Path) -> None:
    """An order given as a JSON file is used as a draft order; --format json lists the cards for machines."""
    order = order_from_code("72141", load_content(BUNDLED_CONTENT_DIR), "from-file", "content-v2")
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    result = CliRunner().invoke(
        app, ["preview", "--fixtures", str(FIXTURES), "--patient", "vignette-2", "--order", str(path), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["hook"] == "order-sign" and document["orders"][0]["ref"] == "ServiceRequest/from-file"
    rules = {c["rule"]: c["card"]["indicator"] for c in document["cards"]}
    assert rules["imaging-without-red-flags"] == "warning"


def test_cli_preview_rejects_unknown_patient() -> None:
    """An unknown fixture patient is a usage error, not a traceback."""
    result = CliRunner().invoke(app, ["preview", "--fixtures", str(FIXTURES), "--patient", "nobody", "--order", "72141"])
    assert result.exit_code == 2 and "no fixture patient named 'nobody'" in result.output
