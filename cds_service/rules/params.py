"""The typed params of every rule: the numbers and texts a content file's ``params`` may tune.

Each rule names its model in ``@rule(params=...)``; the loader validates the content file's
``params`` against it (strictly: ``"65"`` is not a number) and rejects the file with the line of
the bad value. Every number carries its unit and an allowed range that a clinical reviewer would
accept as a setting of that threshold; anything outside it is a typo, not tuning.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator


def unit(name: str) -> dict[str, Any]:
    """The ``json_schema_extra`` of a param: its unit (shown in lint messages and the schema)."""
    return {"unit": name}


# Shared param types: one meaning, one unit, one range.
Age = Annotated[int, Field(ge=50, le=100, json_schema_extra=unit("years"))]
Egfr = Annotated[float, Field(ge=5, le=120, json_schema_extra=unit("mL/min/1.73 m²"))]
Days = Annotated[int, Field(ge=1, le=365, json_schema_extra=unit("days"))]
CourseDays = Annotated[int, Field(ge=1, le=90, json_schema_extra=unit("days"))]
Weeks = Annotated[int, Field(ge=1, le=104, json_schema_extra=unit("weeks"))]
Months = Annotated[int, Field(ge=1, le=120, json_schema_extra=unit("months"))]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Patterns = Annotated[list[Text], Field(min_length=1)]


class Params(BaseModel):
    """Base of every params model: strict types, no unknown names, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class NoParams(Params):
    """A rule that reads no params."""


class OlderAge(Params):
    older_age: Age = Field(description="Age at or above which the older-adult advice applies (AGS Beers: 65).")


class RenalOlderAge(OlderAge):
    egfr_min: Egfr = Field(description="eGFR below which the drug is flagged.")


class NsaidRisk(Params):
    egfr_min: Egfr = Field(description="eGFR below which an NSAID is flagged (AGS Beers 2023: CrCl < 30).")
    gi_risk_age: Age = Field(description="Age from which an NSAID alone is flagged for GI risk.")


class GabapentinoidCheck(OlderAge):
    egfr_renal_dose: Egfr = Field(description="eGFR below which the dose must be adjusted (label: 60).")
    cns_drugs_max: int = Field(ge=2, le=10, json_schema_extra=unit("drugs"), description="CNS-active drugs that count as too many at older ages (Beers: 3).")


class CourseLimit(Params):
    max_course_days: CourseDays = Field(description="Longest course before it is listed on the card.")


class MuscleRelaxantDuration(OlderAge):
    max_days: CourseDays = Field(description="Longest course without a warning (2-3 weeks).")
    suggested_days: CourseDays = Field(description="The supply the 'limit' suggestion sets.")
    cyclobenzaprine_max_dose_mg: float = Field(gt=0, le=30, json_schema_extra=unit("mg"), description="Largest studied single dose at older ages.")
    cyclobenzaprine_max_doses_per_day: int = Field(ge=1, le=6, json_schema_extra=unit("doses/day"), description="Most doses per day at older ages.")

    @model_validator(mode="after")
    def _suggestion_within_limit(self) -> MuscleRelaxantDuration:
        if self.suggested_days > self.max_days:
            raise ValueError(f"suggested_days ({self.suggested_days}) must not exceed max_days ({self.max_days})")
        return self


class OpioidRisk(OlderAge):
    new_start_max_days: CourseDays = Field(description="Longest first opioid supply without a warning (CDC 2022: 7).")


class EarlyImaging(Params):
    pain_weeks_max: Weeks = Field(description="Pain younger than this is 'early' (ACR: 6 weeks).")


class UrgentImaging(Params):
    mri_window_days: Days = Field(description="A spine MRI done within this window silences the card.")


class ChronicPain(Params):
    pain_weeks_min: Weeks = Field(description="Pain at least this old is 'chronic' (12 weeks).")


class EpiduralRadicular(ChronicPain):
    imaging_months: Months = Field(description="Spine MRI or CT counts as recent within this window.")


class ManipulationAfterFusion(Params):
    referral_patterns: Patterns = Field(description="Text that marks a chiropractic referral (lower case).")
    referral_note: Text = Field(description="The note the safer referral carries.")


class BedRest(Params):
    text_patterns: Patterns = Field(description="Order text that means bed rest (lower case).")
    text_exclusions: list[Text] = Field(description="Order text that means 'no bed rest'.")


class SurgeryAge(Params):
    age_min: Age = Field(description="Age from which pre-operative risk assessment is suggested (80).")
    consult_text: Text = Field(description="The text of the risk-assessment request.")


class PostFusion(ChronicPain):
    defer_months: Months = Field(description="Months after fusion in which the surgeon leads the evaluation.")
    nonunion_months_max: Months = Field(description="Months after fusion up to which nonunion is the leading concern.")

    @model_validator(mode="after")
    def _ordered_windows(self) -> PostFusion:
        if self.defer_months >= self.nonunion_months_max:
            raise ValueError(f"defer_months ({self.defer_months}) must be below nonunion_months_max ({self.nonunion_months_max})")
        return self
