"""Opioid rules at their edges: opioid-first-line and opioid-risk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.facts import Fact
from tests.unit.rules_support import (
    ACETAMINOPHEN_500,
    ALPRAZOLAM_05,
    DIAZEPAM_5,
    GABAPENTIN_300,
    HYDROCODONE_APAP,
    IBUPROFEN_600,
    OXYCODONE_5,
    MED_TODAY,
    med_condition,
    med_facts,
    indicator,
    keys,
    medication,
    med_order,
    med_run,
    med_service,
)

FALLS = med_condition("falls", "f1", "History of falling")


def trial(ref: str = "MedicationStatement/n1") -> Fact:
    return Fact("nonopioid-trial", (ref,), "Ibuprofen 600 MG Oral Tablet", MED_TODAY - timedelta(days=40))


def test_first_line_fires_without_nonopioid_trial() -> None:
    """An opioid with no NSAID or acetaminophen on record is a warning offering removal plus PT."""
    found = med_run("opioid-first-line", med_facts(50), med_order(OXYCODONE_5))
    assert found is not None and indicator(found) == "warning"
    assert [s.key for s in found.suggestions] == ["remove-and-refer"]


def test_first_line_silent_with_nonopioid_trial() -> None:
    """A recent NSAID or acetaminophen on record silences opioid-first-line."""
    assert med_run("opioid-first-line", med_facts(50, nonopioid_trial=trial()), med_order(OXYCODONE_5)) is None


def test_first_line_ignores_a_trial_that_is_this_draft() -> None:
    """When the only 'trial' is a draft of this request (an EHR echoing drafts), it does not count."""
    patient = med_facts(50, nonopioid_trial=trial("MedicationRequest/m2"))
    found = med_run("opioid-first-line", patient, med_order(OXYCODONE_5), med_order(IBUPROFEN_600, "m2"))
    assert found is not None and [o.ref for o in found.orders] == ["MedicationRequest/m1"]


def test_first_line_silent_without_opioid() -> None:
    """Acetaminophen alone is not an opioid order."""
    assert med_run("opioid-first-line", med_facts(50), med_order(ACETAMINOPHEN_500)) is None


def test_first_line_with_pt_planned_only_removes() -> None:
    """A PT referral drafted alongside leaves the plain removal suggestion."""
    found = med_run("opioid-first-line", med_facts(50), med_order(HYDROCODONE_APAP), context=(med_service("pt", "physical-therapy"),))
    assert found is not None and [s.key for s in found.suggestions] == ["remove"]


@pytest.mark.parametrize(("days", "refills", "fires"), [(7, 0, False), (8, 0, True), (4, 1, True), (None, 0, False)])
def test_risk_new_start_supply_edge(days: float | None, refills: int, fires: bool) -> None:
    """A new start is flagged above 7 days (refills included); 7 days or an unstated supply is not."""
    found = med_run("opioid-risk", med_facts(50), med_order(OXYCODONE_5, days=days, refills=refills))
    assert keys(found) == (["long-supply"] if fires else [])


def test_risk_long_supply_not_for_a_continuing_opioid() -> None:
    """With an opioid in recent months the order is not a new start: no long-supply finding."""
    recent = Fact("recent-opioid", ("MedicationRequest/old",), "Oxycodone", MED_TODAY - timedelta(days=30))
    assert med_run("opioid-risk", med_facts(50, recent_opioid=recent), med_order(OXYCODONE_5, days=30)) is None


def test_risk_recent_opioid_that_is_this_draft_is_still_a_new_start() -> None:
    """A 'recent opioid' that is only this draft order echoed in the record keeps the new-start check."""
    echo = Fact("recent-opioid", ("MedicationRequest/m1",), "Oxycodone", MED_TODAY)
    assert keys(med_run("opioid-risk", med_facts(50, recent_opioid=echo), med_order(OXYCODONE_5, days=30))) == ["long-supply"]


def test_risk_extended_release_is_a_warning() -> None:
    """An extended-release/long-acting product is a warning even for a short supply."""
    er = med_order("0", text="OxyContin ER oxycodone 10 mg extended-release tablet", days=7)
    assert er.medication is not None and er.medication.extended_release
    found = med_run("opioid-risk", med_facts(50), er)
    assert keys(found) == ["extended-release"]


def test_risk_benzodiazepine_on_record_is_critical() -> None:
    """An active benzodiazepine on record makes the opioid-risk card critical."""
    benzo = medication(ALPRAZOLAM_05, "MedicationStatement/b1", start=MED_TODAY - timedelta(days=400))
    found = med_run("opioid-risk", med_facts(50, medications=(benzo,)), med_order(OXYCODONE_5))
    assert found is not None and keys(found) == ["benzodiazepine"] and indicator(found) == "critical"
    assert found.reasons[0].facts[0].refs == ("MedicationStatement/b1",)


def test_risk_benzodiazepine_drafted_is_critical() -> None:
    """A benzodiazepine drafted in the same request makes the card critical."""
    found = med_run("opioid-risk", med_facts(50), med_order(OXYCODONE_5), med_order(DIAZEPAM_5, "m2"))
    assert found is not None and indicator(found) == "critical"
    assert [o.ref for o in found.orders] == ["MedicationRequest/m1"]


@pytest.mark.parametrize(("age", "fires"), [(64, False), (65, True)])
def test_risk_older_adult_with_falls_edge(age: int, fires: bool) -> None:
    """Falls history counts from age 65."""
    found = med_run("opioid-risk", med_facts(age, falls=FALLS), med_order(OXYCODONE_5))
    assert keys(found) == (["falls-older"] if fires else [])


@pytest.mark.parametrize(("age", "fires"), [(64, False), (65, True)])
def test_risk_older_adult_with_gabapentinoid_edge(age: int, fires: bool) -> None:
    """A gabapentinoid (active or drafted) counts from age 65."""
    gaba = medication(GABAPENTIN_300, "MedicationRequest/g1", start=MED_TODAY - timedelta(days=60))
    found = med_run("opioid-risk", med_facts(age, medications=(gaba,)), med_order(OXYCODONE_5))
    assert keys(found) == (["gabapentinoid-older"] if fires else [])


def test_risk_long_term_opioid() -> None:
    """Long-term opioid therapy on record is a warning and the order is not a new start."""
    long_term = Fact("long-term-opioid", ("MedicationStatement/lt",), "Hydrocodone", MED_TODAY - timedelta(days=300))
    found = med_run("opioid-risk", med_facts(50, long_term_opioid=long_term), med_order(OXYCODONE_5, days=30))
    assert keys(found) == ["long-term"]


def test_risk_one_card_with_every_finding_worst_indicator() -> None:
    """All findings are reasons of one card listing every opioid order; the indicator is the worst."""
    patient = med_facts(80, falls=FALLS)
    found = med_run("opioid-risk", patient, med_order(OXYCODONE_5, days=30), med_order(HYDROCODONE_APAP, "m2", days=5), med_order(DIAZEPAM_5, "m3"))
    assert found is not None
    assert keys(found) == ["long-supply", "benzodiazepine", "falls-older"]
    assert [o.ref for o in found.orders] == ["MedicationRequest/m1", "MedicationRequest/m2"]
    assert found.reasons[0].data["orders"] == [{"display": "Oxycodone Hydrochloride 5 MG Oral Tablet", "days": 30}]
    assert indicator(found) == "critical"
    shorten, remove = found.suggestions
    assert shorten.recommended and not remove.recommended
    assert [a.resource["id"] for a in shorten.actions] == ["m1"]


def test_risk_silent_without_findings() -> None:
    """A short immediate-release new start in a younger patient with nothing else: no card."""
    assert med_run("opioid-risk", med_facts(40), med_order(OXYCODONE_5, days=5)) is None
