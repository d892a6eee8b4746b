"""An eGFR is read in mL/min/1.73 m² only: a unit not understood, a newer result not understood or one the
window cannot place leaves the value in doubt (``egfr_doubt``), and the renal rules stay silent rather than
warn on a number they did not understand (rules.md: nsaid-risk, baclofen-renal, duloxetine-check,
gabapentinoid-check)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.facts.model import UNDATED, UNREAD_UNIT, UNREAD_VALUE, UNREADABLE, Fact
from tests.conftest import hook_body, medication_order, patient, topics
from tests.conftest import condition as http_condition
from tests.conftest import observation as http_observation
from tests.unit.rules_support import egfr, med_facts, med_order, med_run
from tests.unit.test_facts import LOINC, SUBJECT, UCUM, ago, build, concept

SELECT_URL = "/cds-services/neck-pain-order-select"
UCUM_EGFR = "mL/min/{1.73_m2}"


def result(
    value: Any = 25, code: str | None = UCUM_EGFR, unit: str | None = UCUM_EGFR, days: int | None = 10, oid: str = "eg1", **change: Any
) -> dict[str, Any]:
    """A LOINC 98979-8 eGFR ``days`` ago (undated when None) whose valueQuantity states ``code`` and ``unit`` (each
    left out when None); ``change`` replaces elements (``valueQuantity=None`` drops it)."""
    quantity = {"value": value, "system": UCUM, **({"code": code} if code else {}), **({"unit": unit} if unit else {})}
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": SUBJECT,
        "code": concept("98979-8", LOINC, "eGFR CKD-EPI 2021"),
        "valueQuantity": quantity,
    }
    if days is not None:
        resource["effectiveDateTime"] = ago(days)
    resource.update(change)
    return {k: v for k, v in resource.items() if v is not None}


def doubts(found: Any) -> list[tuple[str, str]]:
    return [(f.key, f.refs[0]) for f in found.egfr_doubt]


@pytest.mark.parametrize(
    ("code", "unit", "value", "read"),
    [
        (UCUM_EGFR, UCUM_EGFR, 25, 25),
        (None, "mL/min/1.73m2", 25, 25),
        (None, "mL/min/1.73 m²", 25, 25),
        (None, "ml/min per 1.73 m2", 25, 25),
        (None, "mL/min/1.73 sq M", 25, 25),
        ("mL/s/{1.73_m2}", "mL/s/1.73m2", 1.5, 90),  # SI: 60 seconds a minute
        ("mL/s/{1.73_m2}", None, 0.4, 24),
        ("EGFRU", "mL/min/1.73m2", 25, 25),  # a local code beside a unit text that is understood
        ("mg/dL", "mg/dL", 25, None),
        (None, None, 25, None),  # no unit at all
        ("mL/s/{1.73_m2}", "mL/min/1.73m2", 25, None),  # code and text disagree
        ("mL/min/{1.73_m2}/h", None, 25, None),
    ],
    ids=[
        "ucum",
        "text",
        "superscript",
        "per",
        "sq-m",
        "per-second",
        "per-second-code",
        "local-code",
        "mg-dl",
        "none",
        "disagree",
        "unknown",
    ],
)
def test_egfr_unit_is_understood_or_doubted(code: str | None, unit: str | None, value: float, read: float | None) -> None:
    """An eGFR in mL/min/1.73 m² (UCUM or as EHRs spell it) or mL/s/1.73 m² (×60) is read; another unit, none, or a
    code and text that disagree leave it in doubt (``UNREAD_UNIT``), never read as mL/min."""
    found = build(result(value, code, unit))
    if read is None:
        assert doubts(found) == [(UNREAD_UNIT, "Observation/eg1")]
    else:
        assert found.egfr is not None and found.egfr.value == read and found.egfr.unit == "mL/min/1.73m2"
        assert found.egfr_doubt == ()


@pytest.mark.parametrize(
    ("newer", "reason"),
    [
        (result(days=2, oid="new", valueQuantity=None, valueString=">90"), UNREAD_VALUE),
        (result(days=2, oid="new", valueQuantity=None, valueCodeableConcept={"text": "normal"}), UNREAD_VALUE),
        (result("ninety", days=2, oid="new"), UNREADABLE),  # fails validation
        (result(90, "mL/s/{1.73_m2}", None, days=2, oid="new"), None),  # understood: 5400 is no doubt, it is the value
        (result(90, "%", "%", days=2, oid="new"), UNREAD_UNIT),
        (result(90, days=None, oid="new"), UNDATED),
        (result(90, days=-3, oid="new"), UNDATED),  # dated after today
        (result(90, days=200, oid="old-new"), None),  # on the same day as the latest: see below
        (result(days=2, oid="new", valueQuantity=None), None),  # no value at all: no result
        (result(90, days=2, oid="new", status="entered-in-error"), None),
    ],
    ids=["value-string", "value-concept", "invalid", "understood", "unit", "undated", "future", "same-day", "no-value", "void"],
)
def test_a_newer_result_not_understood_leaves_the_latest_in_doubt(newer: dict[str, Any], reason: str | None) -> None:
    """A result that could be newer than the latest one read — not understood (text, a concept, failing validation, a
    unit), undated or dated after today — puts the eGFR in doubt; one with no value or entered in error is no result."""
    found = build(result(25, days=200, oid="old"), newer)
    assert doubts(found) == ([(reason, "Observation/new")] if reason else [])
    if newer["id"] == "old-new":  # two results of the latest day, both understood: the first is the value, no doubt
        assert found.egfr is not None and found.egfr.value == 25


def test_an_older_result_not_understood_is_no_doubt() -> None:
    """A result not understood that is older than the latest one read leaves nothing in doubt."""
    found = build(result(70, days=5, oid="new"), result(days=100, oid="old", valueQuantity=None, valueString="<15"))
    assert found.egfr is not None and found.egfr.value == 70 and found.egfr_doubt == ()


@pytest.mark.parametrize(
    ("comparator", "value", "below_30", "below_60"),
    [
        (">", 60, False, False),
        (">=", 90, False, False),
        (">", 20, False, False),
        ("<", 15, True, True),
        ("<", 30, True, True),
        ("<=", 30, False, True),
        ("<", 45, False, True),
    ],
)
def test_a_bound_counts_as_below_a_cutoff_only_when_it_shows_it(comparator: str, value: float, below_30: bool, below_60: bool) -> None:
    """A result stated as a bound (">60", "<15") is understood; a renal rule warns only when the bound puts the
    value below its cut-off, never on ">20" against 30."""
    found = build(result(value, valueQuantity={"value": value, "comparator": comparator, "system": UCUM, "code": UCUM_EGFR}))
    assert found.egfr is not None and found.egfr.comparator == comparator and found.egfr_doubt == ()
    facts = med_facts(70, egfr=found.egfr)
    gabapentin = med_order("310431", "g1")  # gabapentin 300 MG Oral Capsule: renal dosing below 60
    assert ("renal" in keys(med_run("nsaid-risk", facts, med_order("197806", "n1")))) is below_30
    assert ("renal" in keys(med_run("gabapentinoid-check", facts, gabapentin))) is below_60


def keys(found: Any) -> list[str]:
    return [] if found is None else [r.key for r in found.reasons]


RENAL = [
    ("nsaid-risk", "197806", 20),  # ibuprofen 600 mg
    ("duloxetine-check", "596926", 20),  # duloxetine 20 mg
    ("gabapentinoid-check", "310431", 45),
    ("baclofen-renal", "197391", 45),  # baclofen 10 mg
]


@pytest.mark.parametrize(("rule_id", "rxcui", "value"), RENAL, ids=[r[0] for r in RENAL])
def test_renal_rules_are_silent_on_an_egfr_in_doubt(rule_id: str, rxcui: str, value: float) -> None:
    """Each renal rule warns on a low eGFR read, and says nothing about the kidneys when a result that could be
    the latest was not understood."""
    low = egfr(value)
    doubt = (Fact(UNREAD_VALUE, ("Observation/new",)),)
    read = med_run(rule_id, med_facts(70, egfr=low), med_order(rxcui, "o1"))
    doubted = med_run(rule_id, med_facts(70, egfr=low, egfr_doubt=doubt), med_order(rxcui, "o1"))
    renal = "default" if rule_id == "baclofen-renal" else "renal"
    assert renal in keys(read)
    assert renal not in keys(doubted)


def nsaid_cards(client: TestClient, *results: dict[str, Any]) -> dict[str, Any]:
    resources = [patient(70), http_condition("M54.2", "Cervicalgia", 20, "pain"), *results]
    response = client.post(SELECT_URL, json=hook_body(resources, [medication_order("197806", "Ibuprofen 600 MG Oral Tablet", "n1")]))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_egfr_in_ml_per_second_is_not_read_as_ml_per_minute(shared_client: TestClient) -> None:
    """1.5 mL/s/1.73 m² (90 mL/min) gives no NSAID renal warning; 0.4 mL/s/1.73 m² (24 mL/min) warns, showing 24."""
    normal = nsaid_cards(shared_client, http_observation("98979-8", "eGFR", 1.5, "mL/s/{1.73_m2}", "eg1", 10))
    assert "nsaid-risk" not in topics(normal)
    low = nsaid_cards(shared_client, http_observation("98979-8", "eGFR", 0.4, "mL/s/{1.73_m2}", "eg1", 10))
    card = next(c for c in low["cards"] if c["source"]["topic"]["code"] == "nsaid-risk")
    assert card["indicator"] == "warning" and "eGFR 24 mL/min" in card["detail"]


def test_an_old_low_egfr_does_not_warn_past_a_newer_result_not_read(shared_client: TestClient) -> None:
    """A 200-day-old eGFR of 25 warns alone, not when a result of 2 days ago says ">90" as text."""
    old = http_observation("98979-8", "eGFR", 25, UCUM_EGFR, "old", 200)
    assert topics(nsaid_cards(shared_client, old)).get("nsaid-risk") == "warning"
    newer = {k: v for k, v in http_observation("98979-8", "eGFR", 0, "x", "new", 2).items() if k != "valueQuantity"}
    assert "nsaid-risk" not in topics(nsaid_cards(shared_client, {**newer, "valueString": ">90"}, old))


def test_a_bound_shows_as_stated_on_the_card(shared_client: TestClient) -> None:
    """An eGFR of "<15" warns and the card shows "<15" (markdown-escaped), not 15."""
    bound = http_observation("98979-8", "eGFR", 15, UCUM_EGFR, "eg1", 10)
    bound["valueQuantity"]["comparator"] = "<"
    card = next(c for c in nsaid_cards(shared_client, bound)["cards"] if c["source"]["topic"]["code"] == "nsaid-risk")
    assert "eGFR &lt;15 mL/min" in card["detail"], card["detail"]
