"""OpenAPI descriptions of the CDS Hooks routes, which read raw bodies (for speed) instead of models.

``request_body(model)`` is the ``openapi_extra`` that documents a JSON request body with the
model's JSON Schema (definitions inlined, so the OpenAPI document needs no extra components);
``HOOK_REQUEST`` describes ``hook`` as one of the hooks served and ``context`` as either hook's
context (the service id in the path decides which applies). ``ERRORS`` documents the
OperationOutcome answers. Tools such as schemathesis generate requests from these.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cds_service.errors import FHIR_JSON
from cds_service.hooks.context import OrderSelectContext, OrderSignContext
from cds_service.protocol.models import CDSRequest, CDSResponse, FeedbackRequest
from cds_service.protocol.services import SERVICES


def inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with every ``#/$defs/…`` reference replaced by its definition (models are not recursive)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: inline_refs(value, defs) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [inline_refs(item, defs) for item in schema]
    return schema


def model_schema(model: type[BaseModel], mode: str = "validation") -> dict[str, Any]:
    """The model's JSON Schema by alias (the wire names), self-contained."""
    schema = model.model_json_schema(by_alias=True, mode=mode)  # type: ignore[arg-type]
    return dict(inline_refs(schema, schema.get("$defs", {})))


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a required JSON request body with ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


SELECTION_PATTERN = r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$"


def _hook_request_schema() -> dict[str, Any]:
    schema = model_schema(CDSRequest)
    contexts = [model_schema(OrderSelectContext), model_schema(OrderSignContext)]
    schema["properties"]["context"] = {"title": "Context", "anyOf": contexts}
    schema["properties"]["hook"] = {"title": "Hook", "type": "string", "enum": sorted({s.hook for s in SERVICES})}
    schema["dependentRequired"] = {"fhirAuthorization": ["fhirServer"]}  # cds-r-1
    contexts[0]["properties"]["selections"]["items"]["pattern"] = SELECTION_PATTERN
    return schema


_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array", "minItems": 1}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": _OUTCOME}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed request: each issue names the bad field"),
    401: {"description": "Authentication failed", "content": {"application/json": {"schema": _OUTCOME}}},
    404: _error("No CDS service with this id"),
    413: _error("Request body too large"),
    415: _error("Request body is not JSON"),
}
# The service routes read their service id from the path themselves (FastAPI's parameter solving
# costs more per call than the lookup), so the parameter is documented here, with the ids served.
SERVICE_ID = {
    "parameters": [
        {
            "name": "service_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": [s.id for s in SERVICES], "title": "Service Id"},
        }
    ]
}
HOOK_REQUEST = {**request_body(_hook_request_schema()), **SERVICE_ID}
HOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Cards", "content": {"application/json": {"schema": model_schema(CDSResponse, "serialization")}}},
    **ERRORS,
    412: _error("The Patient, or the Conditions that decide whether the service applies, could not be obtained"),
}
FEEDBACK_REQUEST = {**request_body(model_schema(FeedbackRequest)), **SERVICE_ID}
FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Stored", "content": {"application/json": {"schema": {"type": "object"}}}},
    **ERRORS,
    503: _error("Feedback could not be stored; send it again"),
}
