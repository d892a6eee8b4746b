"""The schema of a rule's content file (``cards/<rule-id>.yaml``) and the shared files.

Templates are Jinja2 text rendered in a sandbox with StrictUndefined (see ``templates``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cds_service.facts.params import FactParams
from cds_service.terminology.canonical import BASE_PATTERN, DEFAULT_BASE, VERSION_PATTERN

Mode = Literal["active", "shadow", "off"]
Status = Literal["draft", "active", "retired"]
Indicator = Literal["info", "warning", "critical"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuggestionContent(Strict):
    label: str = Field(min_length=1, description="Template: the button the clinician clicks.")
    actions: dict[str, str] = Field(default_factory=dict, description="Action key → description template.")


class SourceContent(Strict):
    label: str = Field(min_length=1)
    url: str | None = Field(default=None, pattern=r"^https?://")
    icon: str | None = Field(default=None, pattern=r"^https?://")


class LinkContent(Strict):
    label: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    type: Literal["absolute"] = "absolute"


class ReasonContent(Strict):
    indicator: Indicator
    text: str = Field(min_length=1, description="Template: this reason in the card's detail.")
    source: SourceContent | None = Field(
        default=None, description="What supports this reason's claim; the card's source when it is the card's first reason."
    )
    links: list[LinkContent] = Field(default_factory=list, description="Further citations of this reason, shown only with it.")

    @field_validator("text")
    @classmethod
    def _no_authoring_notes(cls, value: str) -> str:
        return _clinician_text(value)


# Words that mark an authoring note (how the content was decided), which belongs in ``rationale``.
AUTHORING_NOTES = ("conflict resolved", "**conflict", "conflict:")


# A markdown link or image: in an EHR frame it navigates away (or is not rendered at all).
_MARKDOWN_LINK = re.compile(r"\]\s*\(|<https?://")


def _clinician_text(value: str) -> str:
    lowered = value.lower()
    for marker in AUTHORING_NOTES:
        if marker in lowered:
            raise ValueError(f"authoring note ({marker!r}) in clinician text: move it to the rule's `rationale`")
    if _MARKDOWN_LINK.search(value):
        raise ValueError("markdown link in clinician text: cite it in `source` or `links`")
    return value


class OverrideReasonContent(Strict):
    code: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    display: str = Field(min_length=1)


ParamValue = int | float | bool | str | list[str] | dict[str, Any]


class ReviewContent(Strict):
    """The card's last clinical review: when, and by whom (a name or a team)."""

    date: date
    by: str = Field(min_length=1)


class ChangeContent(Strict):
    """One changelog entry: the version it made, when, and what changed."""

    version: str = Field(pattern=VERSION_PATTERN)
    date: date
    change: str = Field(min_length=1)


class RuleContent(Strict):
    """Everything a clinician sees on one rule's card, plus the rule's tunable numbers."""

    rule: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", description="The rule id; equals the file name.")
    title: str = Field(min_length=1)
    mode: Mode = "active"
    summary: str = Field(min_length=1, description="Template; rendered summary must be under 140 characters.")
    detail: str = Field(min_length=1, description="Template: GitHub-flavoured markdown, no raw HTML.")
    reasons: dict[str, ReasonContent] = Field(min_length=1)
    source: SourceContent
    links: list[LinkContent] = Field(default_factory=list)
    suggestions: dict[str, SuggestionContent] = Field(default_factory=dict)
    selection_behavior: Literal["at-most-one", "any"] = "at-most-one"
    override_reasons: list[OverrideReasonContent] = Field(default_factory=list)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    rationale: str | None = Field(
        default=None, description="Why the card says what it says (sources weighed, conflicts resolved): for reviewers, never shown."
    )
    version: str | None = Field(
        default=None, pattern=VERSION_PATTERN, description="The card's content version (MAJOR.MINOR.PATCH), recorded with every card served."
    )
    status: Status = Field(default="draft", description="Governance: draft, active (clinically reviewed) or retired.")
    review: ReviewContent | None = Field(default=None, description="The last clinical review; required when status is active.")
    changelog: list[ChangeContent] = Field(default_factory=list, description="Newest first; the first entry is for `version`.")

    @model_validator(mode="after")
    def _governed(self) -> RuleContent:
        """An active card was reviewed; a retired one is off; the newest changelog entry is the version's."""
        if self.status == "active" and self.review is None:
            raise ValueError("status active needs `review` with its date: an unreviewed card is a draft")
        if self.status == "retired" and self.mode != "off":
            raise ValueError("status retired needs mode: off")
        if self.changelog and self.changelog[0].version != self.version:
            raise ValueError(f"the newest changelog entry is for version {self.changelog[0].version}, not {self.version}")
        if self.version is not None and not self.changelog:
            raise ValueError("a versioned card needs a changelog entry for its version")
        return self

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare ``off`` as false: ``mode: off`` means what it says."""
        return "off" if value is False else value

    @field_validator("detail", "summary")
    @classmethod
    def _no_html(cls, value: str) -> str:
        _clinician_text(value)
        if "<" in value.replace("{{", "").replace("{%", "") and any(t in value for t in ("<script", "<div", "<a ", "<img", "<span", "<br", "<p>")):
            raise ValueError("raw HTML is not allowed: use markdown")
        return value


class ContentInfo(Strict):
    """``cards/_content.yaml``: the content's identity as FHIR artifacts."""

    canonical_base: str = Field(
        default=DEFAULT_BASE,
        pattern=BASE_PATTERN,
        description="The base of every canonical URL the content defines: <base>/ValueSet/<id>, <base>/PlanDefinition/<rule>, "
        "<base>/StructureDefinition/<extension>, <base>/CodeSystem/verification (no trailing slash).",
    )


class FactsContent(Strict):
    """``cards/_facts.yaml``: the numbers behind patient facts and how each fact is written."""

    params: FactParams = Field(default_factory=FactParams)
    labels: dict[str, str] = Field(description="Fact key → template for one line of 'patient facts'.")


class LayoutContent(Strict):
    """``cards/_layout.yaml``: what every card's detail ends with, and shared systems."""

    detail_footer: str = Field(min_length=1)

    @field_validator("detail_footer")
    @classmethod
    def _no_links(cls, value: str) -> str:
        return _clinician_text(value)
    rule_system_path: str = Field(default="/rules", pattern=r"^/")
    override_reason_system_path: str = Field(default="/override-reasons", pattern=r"^/")
    uncertain_note: str = Field(
        min_length=1, description="Template: the line a card's detail gains when record entries could not be read or recognised."
    )
    rating_action: str = Field(
        default="Appropriateness rating of {order}: {rating}",
        min_length=1,
        description="The description of an order's appropriateness rating (format fields {order}, {rating}).",
    )

    @field_validator("rating_action")
    @classmethod
    def _rating_fields(cls, value: str) -> str:
        try:
            value.format(order="order", rating="rating")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"rating_action may use only the fields {{order}} and {{rating}} ({exc})") from None
        return value


class RedFlagTermsContent(Strict):
    """``cards/_red_flag_terms.yaml``: words (regular expressions) naming red-flag concepts, by group;
    ``cards/_fact_terms.yaml``: words naming the concepts of a patient fact, by fact (the group)."""

    terms: dict[str, list[str]] = Field(min_length=1, description="Group → regular expressions, matched as whole words.")
