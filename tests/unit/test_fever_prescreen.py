"""Temperatures whose JSON plainly states no fever are passed over unvalidated, and the fever fact is what validating each gives."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from cds_service.content.store import ContentStore
from cds_service.facts import build
from cds_service.facts.build import build_facts, stated_celsius
from cds_service.facts.model import DATA_KEYS
from cds_service.facts.record import select_record
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import TODAY, condition, observation, patient

CONTENT = ContentStore(BUNDLED_CONTENT_DIR).current
NECK_PAIN = condition("M54.2", "Cervicalgia", 10, "pain")


FAULTS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Any]] = {
    "value text": lambda raw, q: q.update(value=str(q["value"])),
    "code number": lambda raw, q: q.update(code=38),
    "no code": lambda raw, q: q.pop("code"),
    "empty code": lambda raw, q: q.update(code=""),
    "status": lambda raw, q: raw.update(status="not-a-status"),
    "no subject": lambda raw, q: raw.update(subject="Patient/p1"),
    "quantity list": lambda raw, q: raw.update(valueQuantity=[q]),
    "no value": lambda raw, q: q.pop("value"),
    "void": lambda raw, q: raw.update(status="entered-in-error"),
    "date text": lambda raw, q: raw.update(effectiveDateTime="yesterday"),
}  # how a temperature can be malformed (each on its own)


def temperature(rng: random.Random, i: int) -> dict[str, Any]:
    """A body temperature of the last ten days: Celsius or Fahrenheit around the fever line, sometimes malformed."""
    fahrenheit = rng.random() < 0.3
    value = round(rng.uniform(99.0, 101.5) if fahrenheit else rng.uniform(37.2, 38.8), rng.choice([0, 1, 2]))
    raw = observation("8310-5", "Body temperature", value, "[degF]" if fahrenheit else "Cel", f"t{i}", rng.randint(0, 9))
    fault = rng.choice([None] * 6 + list(FAULTS))
    if fault is not None:
        FAULTS[fault](raw, raw["valueQuantity"])
    return raw


def fever(resources: list[dict[str, Any]]) -> Any:
    record = select_record({"all": [patient(50), NECK_PAIN, *copy.deepcopy(resources)]}, CONTENT.index, "p1")
    return build_facts(record, CONTENT.terminology, CONTENT.facts.params, TODAY, frozenset(DATA_KEYS)).fever


@pytest.mark.parametrize("seed", range(150))
def test_fever_is_what_validating_every_temperature_gives(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """On records of plain and malformed temperatures, the fever fact (entry, value) equals that of validating each one."""
    rng = random.Random(seed)
    resources = [temperature(rng, i) for i in range(rng.randint(1, 12))]
    found = fever(resources)
    monkeypatch.setattr(build, "stated_celsius", lambda raw: None)  # nothing plain: every one validated
    assert found == fever(resources)


def test_a_plain_normal_temperature_is_not_validated() -> None:
    """Thirty normal readings give no fever and build no model; a plain fever reading is validated and found."""
    normal = [observation("8310-5", "Body temperature", 36.8, "Cel", f"n{i}", i % 7) for i in range(30)]
    record = select_record({"all": [patient(50), NECK_PAIN, *normal]}, CONTENT.index, "p1")
    assert build_facts(record, CONTENT.terminology, CONTENT.facts.params, TODAY, frozenset(DATA_KEYS)).fever is None
    assert all("model" not in e._memo for e in record.candidates if e.ref.startswith("Observation/"))
    hot = observation("8310-5", "Body temperature", 100.4, "[degF]", "hot", 1)
    found = fever([*normal, hot])
    assert found is not None and found.refs == ("Observation/hot",) and found.value == 38.0


def test_only_plain_numbers_and_units_are_stated() -> None:
    """A value that is not a JSON number, or a unit that is not a string, is left to validation."""
    assert stated_celsius({"valueQuantity": {"value": 98.6, "code": "[degF]"}}) == 37.0
    assert stated_celsius({"valueQuantity": {"value": 37.5, "unit": "Cel"}}) == 37.5
    assert stated_celsius({"valueQuantity": {"value": "37.5", "code": "Cel"}}) is None
    assert stated_celsius({"valueQuantity": {"value": True, "code": "Cel"}}) is None
    assert stated_celsius({"valueQuantity": {"value": 37.5, "code": 7}}) is None
    assert stated_celsius({"valueQuantity": [{"value": 37.5}]}) is None
