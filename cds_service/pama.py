"""The Argonaut PAMA rating extensions (CDS Hooks for PAMA) on a FHIR ServiceRequest."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson

RATING_URL = "http://fhir.org/argonaut/Extension/pama-rating"
CONSULT_URL = "http://fhir.org/argonaut/Extension/pama-rating-consult-id"
RATING_SYSTEM = "http://fhir.org/argonaut/CodeSystem/pama-rating"
APPROPRIATE, NOT_APPROPRIATE, NO_CRITERIA = "appropriate", "not-appropriate", "no-criteria-apply"
RATINGS = (APPROPRIATE, NOT_APPROPRIATE, NO_CRITERIA)
UNRATED = "unrated"  # the metric label of a spine imaging order that could not be rated


def rating_extensions(value: str, consult: str | None = None) -> list[dict[str, Any]]:
    """The rating extension (and the session id extension when ``consult`` is given)."""
    coding = {"system": RATING_SYSTEM, "code": value}
    found: list[dict[str, Any]] = [{"url": RATING_URL, "valueCodeableConcept": {"coding": [coding]}}]
    if consult is not None:
        found.append({"url": CONSULT_URL, "valueUri": consult})
    return found


def with_rating(resource: Mapping[str, Any], value: str, consult: str | None = None) -> dict[str, Any]:
    """A copy of ``resource`` whose rating extensions (any earlier ones replaced) say ``value``."""
    try:  # the draft order as the request sent it: JSON, copied fastest through its bytes
        rated: dict[str, Any] = orjson.loads(orjson.dumps(resource))
    except TypeError:  # not plain JSON (a Python caller's objects)
        rated = copy.deepcopy(dict(resource))
    kept = [e for e in rated.get("extension") or [] if not (isinstance(e, dict) and e.get("url") in (RATING_URL, CONSULT_URL))]
    rated["extension"] = kept + rating_extensions(value, consult)
    return rated
