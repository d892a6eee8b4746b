"""Tunable numbers behind the patient facts (``cards/_facts.yaml`` → ``params``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FactParams(BaseModel):
    """Windows and thresholds that define the facts; defaults are rules.md / codes.md values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pt_lookback_days: int = Field(180, ge=1, description="PT on record: within this many days.")
    pt_done_days: int = Field(42, ge=1, description="PT_DONE: earliest PT at least this many days ago.")
    nonopioid_trial_days: int = Field(90, ge=1, description="NSAID/acetaminophen active or ended within.")
    steroid_min_daily_mg: float = Field(2.5, gt=0, description="Chronic steroid: prednisone-equivalent mg/day.")
    steroid_min_days: int = Field(90, ge=1, description="Chronic steroid: taken for more than this many days.")
    prednisone_equivalents: dict[str, float] = Field(
        default_factory=lambda: {"8640": 1.0, "8638": 1.0},
        description=(
            "RxNorm ingredient → mg prednisone per mg; an active systemic steroid of an ingredient not listed is not"
            " converted, and leaves the fracture-risk flag uncertain past its age."
        ),
    )
    imaging_lookback_days: int = Field(90, ge=1, description="Recent spine imaging window.")
    egfr_max_age_days: int = Field(365, ge=1, description="Latest eGFR counts if this recent.")
    fever_celsius: float = Field(38.0, description="Fever: body temperature at or above.")
    fever_days: int = Field(7, ge=1, description="Fever: measured within this many days.")
    infection_lookback_days: int = Field(90, ge=1, description="Recent S. aureus bacteremia / spinal infection.")
    fracture_risk_age: int = Field(65, ge=0, description="Fracture-risk flag: age above this with osteoporosis or steroid.")
    opioid_recent_days: int = Field(90, ge=1, description="A new opioid start: no opioid within this many days.")
    long_term_opioid_days: int = Field(90, ge=1, description="Long-term opioid: an active opioid started this long ago.")
