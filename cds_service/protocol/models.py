"""Pydantic models of the CDS Hooks 2.0 wire protocol, with the spec's invariants.

Attributes are snake_case; the JSON names are the spec's camelCase (aliases). Responses are
serialised with ``by_alias=True, exclude_none=True`` so optional fields are omitted, never null.
Invariants ported from the spec's logical models are named by their ids (``cds-r-1`` …).
"""

from __future__ import annotations

import uuid as uuid_mod
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class WireModel(BaseModel):
    """Base for every protocol object: camelCase on the wire, unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with optional fields omitted."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Coding(WireModel):
    system: str | None = None
    code: str | None = None
    display: str | None = None


# --------------------------------------------------------------------------- request


class FhirAuthorization(WireModel):
    access_token: str = Field(min_length=1, alias="access_token")
    token_type: Literal["Bearer", "bearer"] = Field(alias="token_type")
    expires_in: int = Field(alias="expires_in", ge=0)
    scope: str = Field(alias="scope")
    subject: str = Field(alias="subject")
    patient: str | None = Field(default=None, alias="patient")

    def __repr__(self) -> str:  # never show the token
        return f"FhirAuthorization(token_type={self.token_type!r}, scope={self.scope!r})"

    __str__ = __repr__


def _resource_or_null(value: Any) -> Any:
    """A prefetch value is a FHIR resource (a JSON object: a Bundle, a resource, an OperationOutcome) or null."""
    if value is not None and not isinstance(value, dict):
        raise ValueError("a prefetch value is a FHIR resource (a JSON object) or null")
    return value


PrefetchValue = Annotated[dict[str, Any] | None, BeforeValidator(_resource_or_null)]


class CDSRequest(WireModel):
    """A hook call. ``context`` is checked per hook by ``hooks.context``."""

    hook: str = Field(min_length=1)
    hook_instance: uuid_mod.UUID
    fhir_server: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    fhir_authorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, PrefetchValue] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("fhir_server")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        """A base URL with a user (``https://user:password@host/``) would send those credentials instead of
        ``fhirAuthorization``'s token (HTTP clients take them from the URL): refused, never echoed."""
        if value is not None and "@" in urlsplit(value).netloc:
            raise ValueError("a FHIR server URL must not carry credentials (user:password@): the token goes in fhirAuthorization")
        return value

    @model_validator(mode="after")
    def _cds_r_1(self) -> CDSRequest:
        """cds-r-1: fhirAuthorization requires fhirServer."""
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("cds-r-1: fhirAuthorization is given without fhirServer")
        return self


# --------------------------------------------------------------------------- response


class Source(WireModel):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(WireModel):
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)  # cds-resp-5
    resource: dict[str, Any] | None = None
    resource_id: str | None = Field(default=None, pattern=r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")

    @model_validator(mode="after")
    def _cds_resp_2(self) -> Action:
        """cds-resp-2: delete names resourceId and carries no resource; create/update carry one."""
        if self.type == "delete":
            if not self.resource_id or self.resource is not None:
                raise ValueError("cds-resp-2: a delete action has resourceId and no resource")
        elif self.resource is None:
            raise ValueError(f"a {self.type} action carries a resource")
        return self


class Suggestion(WireModel):
    label: str = Field(min_length=1)
    uuid: str | None = None
    is_recommended: bool | None = None
    actions: list[Action] | None = None

    @field_validator("actions")
    @classmethod
    def _no_empty_actions(cls, value: list[Action] | None) -> list[Action] | None:
        return value or None


class Link(WireModel):
    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"]
    app_context: str | None = None

    @model_validator(mode="after")
    def _cds_resp_3(self) -> Link:
        """cds-resp-3: appContext only on smart links."""
        if self.app_context is not None and self.type != "smart":
            raise ValueError("cds-resp-3: appContext is only allowed on smart links")
        return self


class Card(WireModel):
    uuid: str = Field(default_factory=lambda: str(uuid_mod.uuid4()))
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = None
    override_reasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _invariants(self) -> Card:
        """cds-resp-1 and cds-resp-6; empty lists are omitted rather than sent."""
        for name in ("suggestions", "override_reasons", "links"):
            if getattr(self, name) == []:
                setattr(self, name, None)
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("cds-resp-6: suggestions require selectionBehavior")
        if self.selection_behavior == "at-most-one" and self.suggestions:
            if sum(1 for s in self.suggestions if s.is_recommended) > 1:
                raise ValueError("cds-resp-1: at-most-one allows at most one recommended suggestion")
        return self


class SystemAction(Action):
    pass


class CDSResponse(WireModel):
    cards: list[Card] = Field(default_factory=list)
    system_actions: list[SystemAction] | None = None

    def to_wire(self) -> dict[str, Any]:
        """Always carries ``cards`` (possibly empty), optional fields omitted."""
        body = super().to_wire()
        body.setdefault("cards", [])
        return body

    def wire_json(self) -> bytes:
        """``orjson.dumps(self.to_wire())``, serialised in one pass without building the dict first
        (``cards`` is always there: the field is a list, never None)."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------- discovery


class ServiceDescriptor(WireModel):
    hook: str
    id: str
    title: str | None = None
    description: str
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = None


class DiscoveryResponse(WireModel):
    services: list[ServiceDescriptor]


# --------------------------------------------------------------------------- feedback


class OverrideReason(WireModel):
    reason: Coding | None = None
    user_comment: str | None = None


class AcceptedSuggestion(WireModel):
    id: str = Field(min_length=1)


class FeedbackItem(WireModel):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = None
    override_reason: OverrideReason | None = None
    outcome_timestamp: str = Field(min_length=1)

    @field_validator("override_reason", mode="before")
    @classmethod
    def _bare_coding(cls, value: Any) -> Any:
        """Older clients send overrideReason as a bare Coding."""
        if isinstance(value, dict) and "reason" not in value and ("code" in value or "system" in value):
            return {"reason": value}
        return value

    @model_validator(mode="after")
    def _cds_fb_2(self) -> FeedbackItem:
        """cds-fb-2: an accepted outcome lists the accepted suggestions."""
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("cds-fb-2: an accepted outcome requires acceptedSuggestions")
        return self


class FeedbackRequest(WireModel):
    feedback: list[FeedbackItem] = Field(min_length=1)
