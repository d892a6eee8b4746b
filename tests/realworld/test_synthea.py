"""Real records: 119 Synthea patients (SNOMED CT conditions, RxNorm clinical drugs) through the hooks as an EHR sends them.

For every record and scenario (a neck-pain Condition coded ICD-10-CM M54.2 or SNOMED CT 81680005
only, or none; a cervical MRI, cyclobenzaprine + ibuprofen, oxycodone, or the three drugs signed
together) the prefetch is built
from the service's own discovery templates, and the answer must be a well-formed 200. The clinical
expectations below follow from clinical/rules.md and are checked against facts the tests read from
the record themselves (tests/realworld/records.py), never through the service's fact code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import app_settings, running_app, topics
from tests.contract.invariants import assert_response_invariants
from tests.ehr import prefetch_from_templates
from tests.realworld.records import (
    SCENARIOS,
    Facts,
    Record,
    Scenario,
    hook_body,
    load_records,
    read_facts,
    scenario_resources,
)

RECORDS = load_records()
FACTS = {r.name: read_facts(r) for r in RECORDS}
BY_NAME = {r.name: r for r in RECORDS}
WITH_NECK_PAIN = tuple(s for s in SCENARIOS if s.neck_pain)


def cases(scenarios: tuple[Scenario, ...], when: Callable[[Facts], bool]) -> list[Any]:
    """pytest params (record name, scenario) for the records whose facts satisfy ``when``."""
    return [
        pytest.param(r.name, s, id=f"{r.name.rsplit('_', 1)[0]}-{s.id}")
        for r in RECORDS
        if when(FACTS[r.name])
        for s in scenarios
    ]


def only(*orders: str) -> tuple[Scenario, ...]:
    """The neck-pain scenarios of these order sets."""
    return tuple(s for s in WITH_NECK_PAIN if s.orders in orders)


# The order sets with cyclobenzaprine 5 mg TID and ibuprofen 600 mg TID for 7 days (the opioid beside them changes
# neither rule); the opioid rules are checked on oxycodone alone, where no NSAID is drafted beside it.
RELAXANT_NSAID = only("relaxant-nsaid", "medications")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(app_settings(tmp_path_factory.mktemp("realworld"))) as client:
        yield client


@pytest.fixture(scope="module")
def templates(app: TestClient) -> dict[str, dict[str, str]]:
    """Each service's prefetch templates, as discovery publishes them."""
    response = app.get("/cds-services")
    assert response.status_code == 200
    return {s["id"]: s["prefetch"] for s in response.json()["services"]}


@pytest.fixture(scope="module")
def answers() -> dict[tuple[str, str], dict[str, Any]]:
    """Responses already received in this module, by (record name, scenario id)."""
    return {}


def request_for(record: Record, scenario: Scenario, templates: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The scenario's hook request with the prefetch an EHR fills from the service's templates."""
    body = hook_body(record, scenario)
    body["prefetch"] = prefetch_from_templates(
        templates[scenario.service], record.patient_id, scenario_resources(record, scenario)
    )
    return body


@pytest.fixture
def answer(
    app: TestClient, templates: dict[str, dict[str, str]], answers: dict[tuple[str, str], dict[str, Any]]
) -> Callable[[str, Scenario], dict[str, Any]]:
    """Post (once per module) a record's scenario; the response JSON, asserted 200 and well-formed."""

    def post(name: str, scenario: Scenario) -> dict[str, Any]:
        key = (name, scenario.id)
        if key not in answers:
            response = app.post(f"/cds-services/{scenario.service}", json=request_for(BY_NAME[name], scenario, templates))
            assert response.status_code == 200, response.text[:500]
            answers[key] = response.json()
        return answers[key]

    return post


def fired(body: dict[str, Any]) -> dict[str, str]:
    rules = topics(body)
    assert len(rules) == len(body["cards"]), "one card per rule"
    return rules


# ---------------------------------------------------------------- every answer


@pytest.mark.parametrize(("name", "scenario"), cases(SCENARIOS, lambda f: True))
def test_every_record_gets_a_well_formed_answer(name: str, scenario: Scenario, answer: Any) -> None:
    """Every record, in every scenario, gets a 200 whose cards obey the CDS Hooks and traceability invariants."""
    body = answer(name, scenario)
    assert_response_invariants(body)
    fired(body)


def test_the_expectations_cover_the_records() -> None:
    """The records hold every fact an expectation below depends on (so none of those tests runs on nothing)."""
    counts = {
        "malignancy": sum(1 for f in FACTS.values() if f.malignancy),
        "heart failure": sum(1 for f in FACTS.values() if f.heart_failure),
        "anticoagulant or antiplatelet": sum(1 for f in FACTS.values() if f.anticoagulant or f.antiplatelet),
        "immunosuppressant": sum(1 for f in FACTS.values() if f.immunosuppressant),
        "osteoporosis over 65": sum(1 for f in FACTS.values() if f.osteoporosis and f.age > 65),
        "65 or older": sum(1 for f in FACTS.values() if f.age >= 65),
        "no NSAID risk, under 75": sum(1 for f in FACTS.values() if not f.nsaid_warning_risk and f.age < 75),
        "no analgesic on record": sum(1 for f in FACTS.values() if not f.nonopioid_any),
        "no spine condition": sum(1 for f in FACTS.values() if not f.spine_condition),
    }
    assert len(RECORDS) == 119
    assert all(counts.values()), counts


# ---------------------------------------------------------------- red flags


@pytest.mark.parametrize(("name", "scenario"), cases(WITH_NECK_PAIN, lambda f: bool(f.malignancy)))
def test_malignancy_never_gets_reassurance(name: str, scenario: Scenario, answer: Any) -> None:
    """Malignancy (active or history) is a red flag: neither imaging-without-red-flags nor physical-therapy-first fires."""
    rules = fired(answer(name, scenario))
    assert "imaging-without-red-flags" not in rules and "physical-therapy-first" not in rules, (
        f"{FACTS[name].malignancy} is a malignancy, yet the service answered {rules}"
    )


@pytest.mark.parametrize(
    ("name", "scenario"),
    cases(only("relaxant-nsaid", "opioid", "medications"), lambda f: bool(f.malignancy) and not f.recent_mri),
)
def test_malignancy_without_mri_gets_red_flag_urgent(name: str, scenario: Scenario, answer: Any) -> None:
    """Malignancy is an urgent red flag: with no c/t-spine MRI done or drafted within 30 days, red-flag-urgent is critical."""
    rules = fired(answer(name, scenario))
    assert rules.get("red-flag-urgent") == "critical", f"{FACTS[name].malignancy} on record; answered {rules}"


@pytest.mark.parametrize(("name", "scenario"), cases(only("mri"), lambda f: bool(f.malignancy)))
def test_malignancy_mri_without_contrast_gets_modality_advice(name: str, scenario: Scenario, answer: Any) -> None:
    """imaging-modality (c): an urgent malignancy flag and an MRI ordered without contrast → info (advise with contrast)."""
    rules = fired(answer(name, scenario))
    assert rules.get("imaging-modality") == "info", f"{FACTS[name].malignancy} on record; answered {rules}"


@pytest.mark.parametrize(("name", "scenario"), cases(only("mri"), lambda f: True))
def test_a_drafted_mri_silences_red_flag_urgent(name: str, scenario: Scenario, answer: Any) -> None:
    """red-flag-urgent asks for an MRI: when a cervical MRI is among the draft orders it does not fire."""
    assert "red-flag-urgent" not in fired(answer(name, scenario))


@pytest.mark.parametrize(("name", "scenario"), cases(WITH_NECK_PAIN, lambda f: bool(f.fracture_risk)))
def test_fracture_risk_never_gets_reassurance(name: str, scenario: Scenario, answer: Any) -> None:
    """An immunosuppressant, or osteoporosis over 65, is a red flag: no imaging-without-red-flags, no physical-therapy-first."""
    rules = fired(answer(name, scenario))
    assert "imaging-without-red-flags" not in rules and "physical-therapy-first" not in rules, (
        f"{FACTS[name].fracture_risk} is a fracture-risk red flag, yet the service answered {rules}"
    )


# ---------------------------------------------------------------- muscle relaxant and NSAID


@pytest.mark.parametrize(("name", "scenario"), cases(RELAXANT_NSAID, lambda f: f.age >= 65))
def test_cyclobenzaprine_at_65_or_older_is_a_beers_warning(name: str, scenario: Scenario, answer: Any) -> None:
    """muscle-relaxant-older-adult: cyclobenzaprine at age ≥ 65 → warning."""
    rules = fired(answer(name, scenario))
    assert rules.get("muscle-relaxant-older-adult") == "warning", f"age {FACTS[name].age}; answered {rules}"


@pytest.mark.parametrize(("name", "scenario"), cases(RELAXANT_NSAID, lambda f: f.age < 65))
def test_cyclobenzaprine_under_65_gets_no_beers_card(name: str, scenario: Scenario, answer: Any) -> None:
    """muscle-relaxant-older-adult applies from age 65 only: none under 65."""
    rules = fired(answer(name, scenario))
    assert "muscle-relaxant-older-adult" not in rules, f"age {FACTS[name].age}; answered {rules}"


@pytest.mark.parametrize(("name", "scenario"), cases(RELAXANT_NSAID, lambda f: True))
def test_a_short_cyclobenzaprine_course_gets_no_duration_card(name: str, scenario: Scenario, answer: Any) -> None:
    """muscle-relaxant-duration: 5 mg three times daily for 7 days with no refills is within every limit."""
    assert "muscle-relaxant-duration" not in fired(answer(name, scenario))


@pytest.mark.parametrize(("name", "scenario"), cases(RELAXANT_NSAID, lambda f: bool(f.nsaid_warning_risk)))
def test_nsaid_with_a_risk_on_record_is_a_warning(name: str, scenario: Scenario, answer: Any) -> None:
    """nsaid-risk: heart failure, CKD 4–5, peptic ulcer, or an active anticoagulant/antiplatelet/systemic steroid → warning."""
    rules = fired(answer(name, scenario))
    assert rules.get("nsaid-risk") == "warning", f"{FACTS[name].nsaid_warning_risk} on record; answered {rules}"


@pytest.mark.parametrize(
    ("name", "scenario"), cases(RELAXANT_NSAID, lambda f: f.age >= 75 and not f.nsaid_warning_risk)
)
def test_nsaid_at_75_or_older_gets_a_card(name: str, scenario: Scenario, answer: Any) -> None:
    """nsaid-risk: age ≥ 75 without a warning risk → at least info (add a PPI or prefer topical)."""
    rules = fired(answer(name, scenario))
    assert rules.get("nsaid-risk") in {"info", "warning"}, f"age {FACTS[name].age}; answered {rules}"


@pytest.mark.parametrize(
    ("name", "scenario"), cases(RELAXANT_NSAID, lambda f: f.age < 75 and not f.nsaid_warning_risk)
)
def test_nsaid_is_first_line_for_everyone_else(name: str, scenario: Scenario, answer: Any) -> None:
    """nsaid-risk: under 75 with none of its risks on record, an NSAID is first-line and gets no card."""
    assert "nsaid-risk" not in fired(answer(name, scenario))


# ---------------------------------------------------------------- opioid


@pytest.mark.parametrize(("name", "scenario"), cases(only("opioid"), lambda f: not f.nonopioid_any))
def test_opioid_without_a_nonopioid_trial_is_a_warning(name: str, scenario: Scenario, answer: Any) -> None:
    """opioid-first-line: oxycodone with no NSAID or acetaminophen anywhere on record → warning."""
    rules = fired(answer(name, scenario))
    assert rules.get("opioid-first-line") == "warning", f"answered {rules}"


@pytest.mark.parametrize(("name", "scenario"), cases(only("opioid"), lambda f: bool(f.nonopioid_alone_active)))
def test_opioid_after_an_active_nonopioid_gets_no_first_line_card(name: str, scenario: Scenario, answer: Any) -> None:
    """opioid-first-line: an active NSAID or acetaminophen is a nonopioid trial, so the card does not fire."""
    rules = fired(answer(name, scenario))
    assert "opioid-first-line" not in rules, f"{FACTS[name].nonopioid_alone_active} active; answered {rules}"


# ---------------------------------------------------------------- scope


@pytest.mark.parametrize(
    ("name", "scenario"),
    cases(tuple(s for s in SCENARIOS if not s.neck_pain), lambda f: not f.spine_condition),
)
def test_no_neck_pain_on_record_means_silence(name: str, scenario: Scenario, answer: Any) -> None:
    """Out of scope (no neck/upper-back condition on record, no spine order): the answer is {"cards": []}."""
    assert answer(name, scenario)["cards"] == []
