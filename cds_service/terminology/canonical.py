"""Canonical URLs of the content's own FHIR artifacts, all under one base.

The base is ``canonical_base`` in ``cards/_content.yaml`` (``DEFAULT_BASE`` unless changed there):

    <base>/ValueSet/<id>                          a bundled value set (its ``url``)
    <base>/PlanDefinition/<rule>                  a rule, as ``cds-service export`` writes it
    <base>/StructureDefinition/<name>             the value sets' provenance extensions
    <base>/CodeSystem/verification                the verification marks of hand-added codes

A value set file states its base in its ``url``, which the loader checks against the configured one;
the provenance in the file is read under that base (``CanonicalBase.of_valueset``).

A canonical reference to one version of an artifact is ``url|version``; the bundled value sets are
versioned MAJOR.MINOR.PATCH (``VERSION_PATTERN``, as the card files are).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BASE = "http://cds-service.local/fhir"
VERSION_PATTERN = r"^\d+\.\d+\.\d+$"
#: An absolute http(s) URL without a trailing slash, query, fragment or version bar.
BASE_PATTERN = r"^https?://[^\s/?#|]+(/[^\s/?#|]+)*$"
_BASE = re.compile(BASE_PATTERN)


@dataclass(frozen=True, slots=True)
class CanonicalBase:
    """The canonical URLs under one base."""

    base: str = DEFAULT_BASE

    def __post_init__(self) -> None:
        if not _BASE.match(self.base):
            raise ValueError(f"canonical base {self.base!r} is not an http(s) URL without a trailing slash")

    def valueset(self, valueset_id: str) -> str:
        return f"{self.base}/ValueSet/{valueset_id}"

    def plan_definition(self, rule_id: str) -> str:
        return f"{self.base}/PlanDefinition/{rule_id}"

    def structure_definition(self, name: str) -> str:
        return f"{self.base}/StructureDefinition/{name}"

    def code_system(self, name: str) -> str:
        return f"{self.base}/CodeSystem/{name}"

    @staticmethod
    def of_valueset(data: Mapping[str, Any]) -> CanonicalBase | None:
        """The base a ValueSet's ``url`` is under (``<base>/ValueSet/<id>``); None when it is not of that form."""
        url, valueset_id = data.get("url"), data.get("id")
        if not isinstance(url, str) or not isinstance(valueset_id, str):
            return None
        base, found, rest = url.rpartition("/ValueSet/")
        if not found or rest != valueset_id or not _BASE.match(base):
            return None
        return CanonicalBase(base)


DEFAULT_CANONICAL = CanonicalBase(DEFAULT_BASE)


def versioned(url: str, version: str | None) -> str:
    """``url|version`` (or ``url`` without a version): a canonical reference to one version."""
    return f"{url}|{version}" if version else url
