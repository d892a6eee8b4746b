"""Muscle relaxant and antispasmodic rules at their threshold edges: muscle-relaxant-older-adult,
muscle-relaxant-duration, baclofen-renal, benzodiazepine-for-spasm."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.rules_support import (
    ALPRAZOLAM_05,
    BACLOFEN_10,
    CARISOPRODOL_350,
    CYCLOBENZAPRINE_5,
    CYCLOBENZAPRINE_10,
    CYCLOBENZAPRINE_ER_15,
    DIAZEPAM_5,
    HYDROCODONE_APAP,
    METHOCARBAMOL_500,
    OXYCODONE_5,
    TIZANIDINE_4,
    MED_TODAY,
    egfr,
    med_facts,
    indicator,
    keys,
    medication,
    med_order,
    med_run,
    med_service,
)


@pytest.mark.parametrize(("age", "fires"), [(64, False), (65, True), (82, True), (None, False)])
def test_older_adult_age_edge(age: int | None, fires: bool) -> None:
    """muscle-relaxant-older-adult fires for a Beers muscle relaxant from age 65, not at 64 or unknown age."""
    found = med_run("muscle-relaxant-older-adult", med_facts(age), med_order(CYCLOBENZAPRINE_5))
    assert (found is not None) is fires
    if found is not None:
        assert indicator(found) == "warning"
        assert [f.value for f in found.reasons[0].facts] == [float(age)]


def test_older_adult_ignores_baclofen_and_tizanidine() -> None:
    """Baclofen and tizanidine are not in the Beers muscle relaxant entry."""
    assert med_run("muscle-relaxant-older-adult", med_facts(80), med_order(BACLOFEN_10), med_order(TIZANIDINE_4, "m2")) is None


def test_older_adult_lists_every_relaxant_and_refers_to_pt() -> None:
    """Several relaxants make one card; with no PT on record the suggestion also creates a PT referral."""
    found = med_run("muscle-relaxant-older-adult", med_facts(70), med_order(CYCLOBENZAPRINE_5), med_order(METHOCARBAMOL_500, "m2"))
    assert found is not None
    assert [o.ref for o in found.orders] == ["MedicationRequest/m1", "MedicationRequest/m2"]
    (suggestion,) = found.suggestions
    assert suggestion.key == "remove-and-refer"
    assert [a.type for a in suggestion.actions] == ["delete", "delete", "create"]


def test_older_adult_with_pt_planned_only_removes() -> None:
    """A drafted PT referral means the suggestion only removes the relaxant."""
    pt = med_service("pt1", "physical-therapy")
    found = med_run("muscle-relaxant-older-adult", med_facts(70), med_order(CYCLOBENZAPRINE_5), context=(pt,))
    assert found is not None
    assert [s.key for s in found.suggestions] == ["remove"]


@pytest.mark.parametrize(
    ("days", "refills", "fires"),
    [(14, 0, False), (15, 0, True), (7, 1, False), (8, 1, True), (None, 0, False)],
)
def test_duration_days_supply_edge(days: float | None, refills: int, fires: bool) -> None:
    """muscle-relaxant-duration fires above 14 days including refills, at any age; unknown supply is silent."""
    found = med_run("muscle-relaxant-duration", med_facts(30), med_order(METHOCARBAMOL_500, days=days, refills=refills))
    assert keys(found) == (["long-course"] if fires else [])


def test_duration_applies_to_tizanidine_and_baclofen() -> None:
    """Every muscle relaxant of codes.md counts for course length, not only the Beers list."""
    found = med_run("muscle-relaxant-duration", med_facts(30), med_order(TIZANIDINE_4, days=30), med_order(BACLOFEN_10, "m2", days=10))
    assert found is not None and [o.ref for o in found.orders] == ["MedicationRequest/m1"]


@pytest.mark.parametrize("age", [18, 40, 64, 80])
def test_carisoprodol_at_any_age(age: int) -> None:
    """Carisoprodol is flagged at every age, even for a short course."""
    assert "carisoprodol" in keys(med_run("muscle-relaxant-duration", med_facts(age), med_order(CARISOPRODOL_350, days=3)))


@pytest.mark.parametrize(
    ("age", "rxcui", "per_day", "expected"),
    [
        (65, CYCLOBENZAPRINE_5, 3, []),
        (65, CYCLOBENZAPRINE_5, 4, ["cyclobenzaprine-dose"]),
        (65, CYCLOBENZAPRINE_10, 1, ["cyclobenzaprine-dose"]),
        (64, CYCLOBENZAPRINE_10, 3, []),
        (65, CYCLOBENZAPRINE_ER_15, 1, ["cyclobenzaprine-er"]),
        (64, CYCLOBENZAPRINE_ER_15, 1, []),
        (65, METHOCARBAMOL_500, 4, []),
    ],
)
def test_cyclobenzaprine_dose_and_er_edges(age: int, rxcui: str, per_day: int, expected: list[str]) -> None:
    """At 65+, cyclobenzaprine above 5 mg per dose or three doses a day, or ER, is flagged; not at 64."""
    assert keys(med_run("muscle-relaxant-duration", med_facts(age), med_order(rxcui, days=7, per_day=per_day))) == expected


def test_cyclobenzaprine_dose_silent_when_dose_unknown() -> None:
    """A dose that cannot be read stays silent rather than guessed."""
    unknown = med_order("0", text="cyclobenzaprine", per_day=None)
    assert unknown.medication is not None and unknown.medication.dose.dose_mg is None
    assert med_run("muscle-relaxant-duration", med_facts(80), unknown) is None


def test_duration_lists_only_flagged_orders_and_limits_long_ones() -> None:
    """The card lists the flagged orders; the limit suggestion updates only the long course, remove covers all."""
    long = med_order(CYCLOBENZAPRINE_5, "m1", days=30)
    fine = med_order(METHOCARBAMOL_500, "m2", days=7)
    soma = med_order(CARISOPRODOL_350, "m3", days=5)
    found = med_run("muscle-relaxant-duration", med_facts(40), long, fine, soma)
    assert found is not None
    assert [o.ref for o in found.orders] == ["MedicationRequest/m1", "MedicationRequest/m3"]
    limit, remove = found.suggestions
    assert limit.key == "limit" and [a.resource["id"] for a in limit.actions] == ["m1"]
    assert remove.key == "remove" and [a.resource_id for a in remove.actions] == ["MedicationRequest/m1", "MedicationRequest/m3"]


@pytest.mark.parametrize(
    ("age", "value", "fires"),
    [(65, 59, True), (65, 60, False), (64, 30, False), (80, None, False)],
)
def test_baclofen_renal_edges(age: int, value: float | None, fires: bool) -> None:
    """baclofen-renal: eGFR below 60 at 65+; eGFR 60, age 64 or no eGFR measured stays silent."""
    patient = med_facts(age, egfr=None if value is None else egfr(value))
    found = med_run("baclofen-renal", patient, med_order(BACLOFEN_10))
    assert (found is not None) is fires
    if found is not None:
        assert [f.key for f in found.reasons[0].facts] == ["age", "egfr"]


def test_baclofen_renal_ignores_other_relaxants() -> None:
    """Only baclofen orders trigger baclofen-renal."""
    assert med_run("baclofen-renal", med_facts(80, egfr=egfr(20)), med_order(TIZANIDINE_4)) is None


def test_benzodiazepine_without_opioid_is_a_warning() -> None:
    """A benzodiazepine with no opioid active or drafted is a warning."""
    found = med_run("benzodiazepine-for-spasm", med_facts(40), med_order(DIAZEPAM_5))
    assert found is not None and keys(found) == ["default"] and indicator(found) == "warning"


def test_benzodiazepine_with_active_opioid_is_critical() -> None:
    """An active opioid on record makes the card critical and names it."""
    opioid = medication(HYDROCODONE_APAP, "MedicationStatement/h1", start=MED_TODAY - timedelta(days=200))
    found = med_run("benzodiazepine-for-spasm", med_facts(71, medications=(opioid,)), med_order(DIAZEPAM_5))
    assert found is not None and keys(found) == ["default", "with-opioid"] and indicator(found) == "critical"
    assert found.reasons[1].facts[0].refs == ("MedicationStatement/h1",)


def test_benzodiazepine_with_drafted_opioid_is_critical() -> None:
    """An opioid among the other draft orders (not selected) also makes it critical."""
    found = med_run("benzodiazepine-for-spasm", med_facts(40), med_order(ALPRAZOLAM_05), med_order(OXYCODONE_5, "m2", selected=False))
    assert found is not None and indicator(found) == "critical"
    assert [o.ref for o in found.orders] == ["MedicationRequest/m1"]


def test_benzodiazepine_with_ended_opioid_stays_a_warning() -> None:
    """An opioid that is no longer active does not make the card critical."""
    ended = medication(OXYCODONE_5, "MedicationRequest/old", active=False, end=MED_TODAY - timedelta(days=30))
    found = med_run("benzodiazepine-for-spasm", med_facts(40, medications=(ended,)), med_order(DIAZEPAM_5))
    assert found is not None and indicator(found) == "warning"


@pytest.mark.parametrize(("age", "older"), [(64, False), (65, True)])
def test_benzodiazepine_names_beers_from_65(age: int, older: bool) -> None:
    """From age 65 the default reason carries the age fact for the Beers wording."""
    found = med_run("benzodiazepine-for-spasm", med_facts(age), med_order(DIAZEPAM_5))
    assert found is not None and found.reasons[0].data["older"] is older
    assert bool(found.reasons[0].facts) is older
