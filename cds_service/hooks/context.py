"""The ``context`` of each supported hook, validated per the CDS Hooks library definitions."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationError, field_validator

from cds_service.errors import InvalidRequest, issues_from_validation
from cds_service.protocol.models import WireModel

_REF = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


class DraftOrdersBundle(WireModel):
    """draftOrders: a Bundle. Real clients omit ``type``; entries are checked resource by resource later."""

    resource_type: str = Field(pattern="^Bundle$")
    entry: list[dict[str, Any]] = Field(default_factory=list, max_length=500)


class OrderSignContext(WireModel):
    user_id: str = Field(min_length=1)
    patient_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")
    encounter_id: str | None = None
    draft_orders: DraftOrdersBundle


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1, max_length=500)

    @field_validator("selections")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _REF.match(item):
                raise ValueError("each selection is a relative reference Type/id")
        return value


CONTEXTS: dict[str, type[OrderSignContext]] = {
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


def parse_context(hook: str, context: dict[str, Any]) -> OrderSignContext:
    """The hook's context as a typed model; 400 naming the bad field otherwise."""
    try:
        return CONTEXTS[hook].model_validate(context)
    except ValidationError as exc:
        raise InvalidRequest(issues_from_validation(exc, prefix="context")) from None
