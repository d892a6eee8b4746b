"""What a rule reads of its input: the orders in given value sets, and whether its data could be read."""

from __future__ import annotations

from cds_service.facts.model import CONDITIONS, DATA_KEYS, MEDICATIONS, PATIENT
from cds_service.rules.base import RuleInput
from tests.unit.rules_support import facts, order

MRI = order("mri", "imaging-mri-cervical-spine")
PT = order("pt", "physical-therapy")
BOTH = order("both", "imaging-mri-cervical-spine", "physical-therapy")
OTHER = order("other")


def test_triggering_and_drafted_keep_the_orders_in_any_of_the_sets_in_order() -> None:
    """``triggering`` reads the evaluated orders and ``drafted`` all of them; each keeps those in any set named, in order."""
    data = RuleInput(facts(), (MRI, OTHER, BOTH), (PT, MRI, OTHER, BOTH), {})
    assert data.triggering("imaging-mri-cervical-spine") == (MRI, BOTH)
    assert data.triggering("physical-therapy", "imaging-mri-cervical-spine") == (MRI, BOTH)
    assert data.triggering("physical-therapy") == (BOTH,)
    assert data.drafted("physical-therapy") == (PT, BOTH)
    assert data.triggering("nsaids") == () and data.drafted() == ()


def test_has_needs_every_key() -> None:
    """``has`` is true only when every key named could be read (and with none named)."""
    patient = facts(available=frozenset({PATIENT, CONDITIONS}))
    assert patient.has() and patient.has(PATIENT) and patient.has(CONDITIONS, PATIENT)
    assert not patient.has(PATIENT, MEDICATIONS) and not patient.has(MEDICATIONS)
    assert facts(available=frozenset(DATA_KEYS)).has(*DATA_KEYS)
