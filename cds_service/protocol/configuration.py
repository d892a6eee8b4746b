"""Options an EHR may set per call, in the style of Da Vinci CRD's configuration options.

Discovery advertises them under ``extension["davinci-crd.configuration-options"]`` (code, type,
name, description, default); a request may set any of them in
``extension["davinci-crd.configuration"]`` (code → value). No option is required: one not sent
keeps its default; an unknown code is ignored; a known one with a value of the wrong type is a 400
naming it (the EHR asked for something the service would otherwise silently not do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.errors import InvalidRequest

OPTIONS_KEY = "davinci-crd.configuration-options"
CONFIGURATION_KEY = "davinci-crd.configuration"


@dataclass(frozen=True)
class Option:
    code: str
    type: str  # "boolean" (the only type the options below need)
    name: str
    description: str
    default: bool

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "type": self.type, "name": self.name, "description": self.description, "default": self.default}


OPTIONS = (
    Option("info-cards", "boolean", "Information cards", "Return cards with indicator info (warning and critical cards are always returned).", True),
    Option("ratings", "boolean", "Appropriateness ratings", "Rate spine imaging orders (system actions carrying the PAMA rating extension).", True),
)
OPTIONS_BY_CODE = {o.code: o for o in OPTIONS}


@dataclass(frozen=True)
class Configuration:
    """What one call asked for (the defaults when it asked for nothing)."""

    info_cards: bool = True
    ratings: bool = True


DEFAULT = Configuration()


def discovery_extension() -> dict[str, Any]:
    """The discovery entry's extension advertising the options."""
    return {OPTIONS_KEY: [o.to_wire() for o in OPTIONS]}


def configuration(extension: Mapping[str, Any] | None) -> Configuration:
    """The configuration a request's ``extension`` sets (unknown codes ignored; a wrongly typed known one is a 400)."""
    asked = (extension or {}).get(CONFIGURATION_KEY)
    if asked is None:
        return DEFAULT
    if not isinstance(asked, dict):
        raise InvalidRequest.one(f"{CONFIGURATION_KEY} must be an object of option code → value", f"extension.{CONFIGURATION_KEY}")
    values = {}
    for code, value in asked.items():
        option = OPTIONS_BY_CODE.get(code)
        if option is None:
            continue
        if not isinstance(value, bool):
            raise InvalidRequest.one(f"configuration option {code} takes a {option.type}", f"extension.{CONFIGURATION_KEY}.{code}")
        values[code.replace("-", "_")] = value
    return Configuration(**values)
