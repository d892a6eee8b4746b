"""Entries whose JSON states an inactive or void status are passed over without validation, as validation would."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.content.store import ContentStore
from cds_service.facts.pick import active
from cds_service.facts.record import Entry, select_record
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import condition, patient

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _entry(resource: dict[str, Any]) -> Entry:
    index = ContentStore(BUNDLED_CONTENT_DIR).current.index
    record = select_record({"all": [patient(60), resource]}, index, "p1")
    (entry,) = record.candidates
    return entry


def _pain(**changes: Any) -> dict[str, Any]:
    resource = condition("M54.2", "Cervicalgia", 30)
    resource.update(changes)
    return resource


def _status(system: str, code: Any) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _eager_active(resource: dict[str, Any]) -> bool:
    """The answer of validating first: usable (valid, not void) and no inactive clinical status."""
    entry = _entry(copy.deepcopy(resource))
    return entry.model is not None and not entry.void and entry.active_condition


VARIANTS = {
    "active": _pain(),
    "resolved": _pain(clinicalStatus=_status(CLINICAL, "resolved")),
    "remission": _pain(clinicalStatus=_status(CLINICAL, "remission")),
    "resolved, coding as one object": _pain(clinicalStatus={"coding": {"system": CLINICAL, "code": "inactive"}}),
    "resolved and invalid": _pain(clinicalStatus=_status(CLINICAL, "resolved"), onsetDateTime="yesterday"),
    "refuted": _pain(verificationStatus=_status(VERIFICATION, "refuted")),
    "entered in error and invalid": _pain(verificationStatus=_status(VERIFICATION, "entered-in-error"), subject=7),
    "active and invalid": _pain(onsetDateTime="yesterday"),
    "code not a string": _pain(clinicalStatus=_status(CLINICAL, 5)),
    "status with spaces": _pain(clinicalStatus=_status(CLINICAL, " resolved")),
    "status a list": _pain(status=["entered-in-error"]),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_active_answers_as_validating_first_does(name: str) -> None:
    """``active`` with the pre-screen gives the same answer as validating the entry first."""
    assert active(_entry(copy.deepcopy(VARIANTS[name]))) == _eager_active(VARIANTS[name])


@pytest.mark.parametrize("name", ["resolved", "remission", "resolved, coding as one object", "resolved and invalid", "refuted"])
def test_a_stated_inactive_condition_is_not_validated(name: str) -> None:
    """A condition whose JSON states it inactive or void is passed over by ``active`` without building its model."""
    entry = _entry(copy.deepcopy(VARIANTS[name]))
    assert not active(entry)
    assert "model" not in entry._memo


@pytest.mark.parametrize("name", ["active", "code not a string", "status with spaces"])
def test_an_entry_not_plainly_inactive_is_validated(name: str) -> None:
    """A condition whose JSON does not plainly state an inactive status is decided on its validated model."""
    entry = _entry(copy.deepcopy(VARIANTS[name]))
    active(entry)
    assert "model" in entry._memo


def test_a_stated_void_entry_is_unusable_without_validation() -> None:
    """``usable`` is False for an entered-in-error entry, valid or not, and builds no model."""
    for resource in (VARIANTS["refuted"], VARIANTS["entered in error and invalid"]):
        entry = _entry(copy.deepcopy(resource))
        assert not entry.usable
        assert "model" not in entry._memo


def test_a_void_entry_does_not_hide_a_different_one_with_its_reference() -> None:
    """A refuted Condition and a different, active one under the same reference are both read: the active one counts."""
    index = ContentStore(BUNDLED_CONTENT_DIR).current.index
    first = _pain(verificationStatus=_status(VERIFICATION, "refuted"))
    record = select_record({"all": [patient(60), first, _pain()]}, index, "p1")
    earlier, later = record.candidates
    assert not active(earlier)
    assert later.valid and active(later)
