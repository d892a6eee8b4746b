"""Rating spine imaging orders from the rules' conclusions; never from data the service could not read."""

from __future__ import annotations

import uuid

from cds_service.appropriateness import consult_id, rate, rate_call
from cds_service.facts.model import DATA_KEYS, OBSERVATIONS
from cds_service.pama import CONSULT_URL
from cds_service.rules.base import Finding
from tests.unit.rules_support import content, fact, facts, flag, order, pain

MRI = order("mri", "imaging-mri-cervical-spine")
HEAD_CT = order("ct", "imaging-ct-head")


def rating(patient, findings=(), on=True, orders=(MRI,)):  # type: ignore[no-untyped-def]
    return [(r.order.ref, r.value) for r in rate(patient, orders, findings, on)]


def test_the_imaging_card_makes_it_not_appropriate_only_when_the_rule_is_active() -> None:
    """A finding of imaging-without-red-flags rates not-appropriate; in shadow or off mode it rates nothing."""
    found = (Finding("imaging-without-red-flags", (MRI,), ()),)
    assert rating(facts(pain=pain(10)), found) == [("ServiceRequest/mri", "not-appropriate")]
    assert rating(facts(pain=pain(10)), found, on=False) == [("ServiceRequest/mri", None)]


def test_positive_evidence_rates_appropriate_even_with_data_missing() -> None:
    """A red flag read in the record rates appropriate though observations could not be read."""
    patient = facts(pain=pain(10), red_flags=(flag("malignancy", fact("malignancy")),), available=frozenset(DATA_KEYS) - {OBSERVATIONS})
    assert rating(patient) == [("ServiceRequest/mri", "appropriate")]


def test_no_criteria_apply_needs_a_whole_and_understood_record() -> None:
    """With nothing firing: no-criteria-apply on a whole record; no rating with a key missing, an uncertain entry or the rule off."""
    assert rating(facts(pain=pain(100))) == [("ServiceRequest/mri", "no-criteria-apply")]
    assert rating(facts(pain=pain(100), available=frozenset(DATA_KEYS) - {OBSERVATIONS})) == [("ServiceRequest/mri", None)]
    assert rating(facts(pain=pain(100), uncertain=(fact("unrecognised-text"),))) == [("ServiceRequest/mri", None)]
    assert rating(facts(pain=pain(100)), on=False) == [("ServiceRequest/mri", None)]


def test_a_study_the_modality_card_replaces_is_not_rated() -> None:
    """An order only imaging-modality names (another study is needed) gets no rating, even with a red flag."""
    patient = facts(pain=pain(10), red_flags=(flag("malignancy", fact("malignancy")),))
    assert rating(patient, (Finding("imaging-modality", (MRI,), ()),)) == [("ServiceRequest/mri", None)]


def test_only_spine_imaging_is_rated() -> None:
    """Orders outside the cervical and thoracic imaging value sets are not rated."""
    assert rating(facts(pain=pain(10)), orders=(HEAD_CT,)) == []


def test_the_consult_id_is_the_version_5_uuid_of_the_hook_instance() -> None:
    """A call's session id is ``uuid5(NAMESPACE_URL, "cds-rating:<hookInstance>")`` as a URN, for any hookInstance."""
    for hook_instance in (uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4(), "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "é"):
        assert consult_id(hook_instance) == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'cds-rating:{hook_instance}')}"


def test_rate_call_gives_the_session_id_its_actions_carry() -> None:
    """A rated order's action carries the session id rate_call returns; with no action there is no session id."""
    hook_instance = uuid.uuid4()
    patient = facts(pain=pain(10), red_flags=(flag("malignancy", fact("malignancy")),))
    ratings, actions, consult = rate_call(content(), patient, (MRI,), (), hook_instance)
    assert [r.value for r in ratings] == ["appropriate"] and consult == consult_id(hook_instance)
    (action,) = actions
    assert [e["valueUri"] for e in action["resource"]["extension"] if e["url"] == CONSULT_URL] == [consult]
    assert rate_call(content(), patient, (HEAD_CT,), (), hook_instance) == ((), [], None)
    assert rate_call(content(), patient, (), (), hook_instance) == ((), [], None)
