"""Property-based fuzzing of every HTTP operation from the app's own OpenAPI document (schemathesis).

Requests are generated from the documented request bodies (valid and invalid ones), a bounded
number per operation with a fixed seed. Every answer must be documented: no 500, a documented
status and content type, and a body matching the documented schema. FHIR fallback is limited to
a host that does not exist (``fhir.invalid``), so no generated ``fhirServer`` is ever called.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.app import create_app
from cds_service.protocol.services import SERVICES_BY_ID
from cds_service.settings import BUNDLED_CONTENT_DIR, Settings

MAX_EXAMPLES = 60
SEED = 20240601


def fuzz_app() -> FastAPI:
    """The app under test; its feedback database lives in a temporary directory removed at exit."""
    directory = Path(tempfile.mkdtemp(prefix="cds-fuzz-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return create_app(
        Settings(
            content_dir=BUNDLED_CONTENT_DIR,
            content_poll_seconds=0,
            auth_mode="off",
            feedback_db_url=f"sqlite:///{directory / 'feedback.sqlite3'}",
            fhir_allowed_hosts=["fhir.invalid"],
            prefetch_deadline_seconds=0.5,
        )
    )


schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES, deterministic=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_500_or_off_schema(case: schemathesis.Case) -> None:
    """Any generated request gets a documented, schema-conform answer and never a server error."""
    service = SERVICES_BY_ID.get(str((case.path_parameters or {}).get("service_id")))
    if service is not None and isinstance(case.body, dict) and "hook" in case.body and "context" in case.body:
        case.body["hook"] = service.hook  # the hook the service answers: reach past the hook check more often
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    )
