"""The service's null check for fhir.resources models decides and reports exactly as the library's own."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cds_service.fhir import nullcheck
from cds_service.fhir.nullcheck import checked_fields, fast_check, installed, library_check

MODELS = ["Patient", "Condition", "Procedure", "ServiceRequest", "MedicationRequest", "MedicationStatement",
          "Observation", "ImagingStudy", "Bundle", "CodeableConcept", "Coding", "Reference", "Period",
          "Dosage", "Timing", "Quantity", "Extension"]  # fmt: skip
VALUES = [None, [], [None], [{}], [{}, None], [None, {}], ["a", None], "x", {}, 3]


def _outcome(check: Any, cls: Any, data: Any) -> Any:
    try:
        return ("kept", check(cls, data))
    except ValidationError as exc:
        return ("rejected", exc.errors(include_url=False))


@pytest.mark.parametrize("name", MODELS)
def test_every_model_runs_the_fast_check(name: str) -> None:
    """Resource and element models the service validates are built with the fast null check."""
    assert installed(get_fhir_model_class(name))


def test_models_imported_first_thing_run_the_fast_check() -> None:
    """A process importing the service package first builds its FHIR models with the fast check."""
    code = ("from cds_service.fhir.parse import model_class; from cds_service.fhir.nullcheck import installed; "
            "assert installed(model_class('Condition')), 'not installed'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["Condition", "CodeableConcept", "Dosage", "Patient"])
def test_checks_the_same_fields_as_the_library(name: str) -> None:
    """A null in each checked field is rejected, and a null in any other list field is left alone, as the library does."""
    cls = get_fhir_model_class(name)
    checked = {alias or field for field, alias in checked_fields(cls)}
    assert checked
    for field, info in cls.model_fields.items():
        key = info.alias or field
        data = {key: [None]}
        assert _outcome(fast_check, cls, data) == _outcome(library_check, cls, data)
        assert (_outcome(fast_check, cls, data)[0] == "rejected") == (key in checked)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["Condition", "Observation", "CodeableConcept", "Dosage", "MedicationRequest"]),
    picks=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(VALUES)), max_size=6),
    use_alias=st.booleans(),
)
def test_same_answer_as_the_library(name: str, picks: list[tuple[int, Any]], use_alias: bool) -> None:
    """On any mix of fields and values, the fast check keeps or rejects (with the same errors) what the library does."""
    cls = get_fhir_model_class(name)
    fields = list(cls.model_fields.items())
    data = {}
    for position, value in picks:
        field, info = fields[position % len(fields)]
        data[(info.alias or field) if use_alias else field] = value
    assert _outcome(fast_check, cls, data) == _outcome(library_check, cls, data)


def test_a_null_in_a_list_of_codings_is_still_rejected() -> None:
    """Validating a resource with a null coding fails as the library's check makes it fail."""
    with pytest.raises(ValidationError, match="None is not allowed as an element of coding"):
        get_fhir_model_class("CodeableConcept").model_validate({"coding": [None], "text": "x"})


def test_state_reports_the_fast_check_in_this_process() -> None:
    """Installed before any model class exists, the check's state is "fast"."""
    assert nullcheck.state() == "fast"


def test_state_says_when_models_were_built_before_install() -> None:
    """A process that builds FHIR models before installing reports models-built-first, not fast."""
    code = ("import sys; sys.modules['cds_service'] = type(sys)('cds_service'); "
            "sys.modules['cds_service'].__path__ = [__import__('pathlib').Path(r'" + str(Path(nullcheck.__file__).parents[1]) + "').as_posix()]; "
            "from fhir.resources.R4B import get_fhir_model_class; get_fhir_model_class('Condition'); "
            "from cds_service.fhir import nullcheck; nullcheck.install(); print(nullcheck.state())")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert out == "models-built-first"


def test_fhir_core_is_pinned() -> None:
    """fhir-core, whose validator the check replaces, is pinned to one release in pyproject.toml."""
    text = (Path(nullcheck.__file__).parents[2] / "pyproject.toml").read_text()
    assert '"fhir-core==' in text


def test_service_start_logs_the_null_check_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The service's start-up line names the null check in use, at INFO when it is the fast one."""
    from tests.conftest import app_settings, running_app

    with caplog.at_level(logging.INFO, logger="cds_service.app"), running_app(app_settings(tmp_path)):
        pass
    (started,) = [r for r in caplog.records if r.getMessage() == "service started"]
    assert started.fhir_null_check == "fast" and started.levelno == logging.INFO  # type: ignore[attr-defined]


def test_only_data_without_checked_fields_skips_the_search() -> None:
    """Data holding no checked field is kept as it is; a null in a checked list is rejected among any other elements."""
    cls = get_fhir_model_class("Condition")
    plain = {"id": "c1", "code": {"text": "x"}, "onsetDateTime": "2020-01-01", "recordedDate": "2020-01-02"}
    assert fast_check(cls, plain) is plain
    for data in ({**plain, "category": [{"text": "y"}, None]}, {"bodySite": [None], **plain}):
        assert _outcome(fast_check, cls, data) == _outcome(library_check, cls, data)
        assert _outcome(fast_check, cls, data)[0] == "rejected"
