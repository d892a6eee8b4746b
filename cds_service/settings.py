"""Service settings: read once from the environment (prefix ``CDS_``) and injected.

Nothing reads settings at import time; ``get_settings()`` builds them on first use and
tests pass their own ``Settings`` to ``create_app``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUNDLED_CONTENT_DIR = Path(__file__).resolve().parent.parent / "cards"
BUNDLED_FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fhir_fixtures"

DEFAULT_CORS_ORIGINS = ["https://sandbox.cds-hooks.org"]
DEFAULT_CORS_ORIGIN_REGEX = r"https?://(localhost|127\.0\.0\.1)(:\d+)?"


def _split(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything an operator can set; each field is ``CDS_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CDS_", env_file=None, extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development",
        description="`production` turns off the preview page, /docs and the localhost CORS pattern, and "
        "refuses to start without CDS_PUBLIC_BASE_URL, CDS_FHIR_ALLOWED_HOSTS and CDS_AUTH_MODE=required.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = Field(
        default=None,
        description="The URL clients call (behind a proxy); used for JWT `aud` and the rule code system.",
    )
    content_dir: Path = Field(default=BUNDLED_CONTENT_DIR, description="Card content and value sets.")
    content_poll_seconds: float = Field(default=2.0, ge=0, description="Hot-reload poll interval; 0 = off.")
    preview_enabled: bool = Field(
        default=True, description="Serve the card preview page at /preview (fixture patients only; turn off in production)."
    )
    fixtures_dir: Path = Field(
        default=BUNDLED_FIXTURES_DIR,
        description="Fixture patients and requests (preview page, lint, simulate, load-fixtures).",
    )

    prefetch_deadline_seconds: float = Field(default=2.0, gt=0, description="Overall FHIR fallback deadline.")
    fhir_max_pages: int = Field(default=10, ge=1, description="Bundle `next` pages followed per query.")
    fhir_max_response_bytes: int = Field(default=8_000_000, ge=1024)
    fhir_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="If set, the only fhirServer hosts (or host:port) the service will call; listed hosts may be "
        "private or loopback addresses and may use plain http (outside production). If empty, any host whose "
        "addresses are all public.",
    )

    max_body_bytes: int = Field(default=5_000_000, ge=1024, description="Largest accepted request body.")
    max_buffered_body_bytes: int = Field(
        default=40_000_000, ge=1024, description="Request body bytes held at once across all requests (503 above)."
    )
    max_header_bytes: int = Field(default=32_768, ge=1024, description="Largest request line and headers (431 above).")
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time a connection gets to send a request's line and headers."
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Proxies whose X-Forwarded-Proto / X-Forwarded-For are trusted (none by default).",
    )
    metrics_port: int | None = Field(
        default=None, description="Serve /metrics on this port instead of the service port (production: the only way)."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_CORS_ORIGINS))
    cors_origin_regex: str | None = DEFAULT_CORS_ORIGIN_REGEX

    auth_mode: Literal["required", "off", "sandbox"] = "off"
    auth_issuers_file: Path | None = Field(default=None, description="YAML/JSON list of trusted issuers.")
    auth_clock_skew_seconds: int = Field(default=60, ge=0, le=600, description="Leeway for JWT time claims.")
    auth_max_token_age_seconds: int = Field(default=300, ge=1, description="Oldest accepted JWT `iat` (+ skew).")
    auth_jwks_refresh_min_seconds: float = Field(
        default=60.0, ge=0, description="Least time between JWKS re-reads on an unknown `kid`."
    )

    feedback_db_url: str = "sqlite:///./cds-feedback.sqlite3"
    card_repeat_window_seconds: float = Field(
        default=600, ge=0, description="How long a card shown for an unchanged order counts as already shown (0 = off)."
    )
    feedback_flush_seconds: float = Field(
        default=0.2, gt=0, le=60, description="Longest time served cards wait before being written, in one batch."
    )
    feedback_state_dir: Path | None = Field(
        default=Path("./cds-recorder-state"),
        description="Where each process keeps its served-card totals, so the next start logs what a crash lost; "
        "empty = off.",
    )
    redis_url: str | None = None

    log_level: str = Field(default="INFO", description="Root log level (DEBUG, INFO, WARNING, ERROR).")
    log_json: bool = Field(default=True, description="JSON log lines on stderr; false = readable text.")
    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="On SIGTERM, time in-flight requests get to finish before the process exits."
    )

    _split_lists = field_validator("cors_origins", "fhir_allowed_hosts", "forwarded_allow_ips", mode="before")(_split)

    @field_validator("feedback_state_dir", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def production(self) -> bool:
        return self.env == "production"

    @model_validator(mode="after")
    def _production_profile(self) -> Settings:
        """``CDS_ENV=production``: development features off, and the settings security needs present."""
        if not self.production:
            return self
        missing = [
            message
            for message, problem in (
                ("CDS_PUBLIC_BASE_URL must be set", not self.public_base_url),
                ("CDS_FHIR_ALLOWED_HOSTS must be set", not self.fhir_allowed_hosts),
                ("CDS_AUTH_MODE must be required", self.auth_mode != "required"),
                ("CDS_PUBLIC_BASE_URL must be https", bool(self.public_base_url) and not str(self.public_base_url).startswith("https://")),
            )
            if problem
        ]
        if missing:
            raise ValueError("CDS_ENV=production: " + "; ".join(missing))
        self.preview_enabled = False
        self.cors_origin_regex = None
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]
