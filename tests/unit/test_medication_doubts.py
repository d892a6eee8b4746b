"""Medication facts a warning needs absent — a nonopioid trial (opioid-first-line), chronic steroid use
(systemic-corticosteroid), an opioid in recent months (opioid-risk's new start), a neuropathic diagnosis
(gabapentinoid-check) — are in doubt, not absent, when the record holds an entry that could establish
them but was not understood: the warning stays silent (``<fact>_doubt``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.facts.model import END_UNKNOWN, STEROID_DOSE, UNREADABLE, UNRECOGNISED_TEXT, UNRESOLVED_MEDICATION, Fact
from tests.conftest import days_ago, hook_body, medication_order, patient, topics
from tests.conftest import condition as http_condition
from tests.unit.rules_support import content, med_facts, med_order, med_run
from tests.unit.test_facts import ICD10, RXNORM, SUBJECT, UCUM, ago, build, concept, condition

SELECT_URL = "/cds-services/neck-pain-order-select"
LOCAL = "http://hospital.example.org/formulary"
NECK_PAIN = condition("M54.2", 20, "pain", display="Cervicalgia")
IBUPROFEN = concept("197806", RXNORM, "Ibuprofen 600 MG Oral Tablet")
OXYCODONE = concept("1049621", RXNORM, "oxycodone hydrochloride 5 MG Oral Tablet")
PREDNISONE_5 = concept("312617", RXNORM, "prednisone 5 MG Oral Tablet")


def statement(drug: dict[str, Any] | None, status: str = "active", mid: str = "ms1", **dates: Any) -> dict[str, Any]:
    """A MedicationStatement of ``drug`` (a medicationCodeableConcept; None: a Medication/xyz reference the request
    cannot resolve, with no display), dated by ``dates`` (effectiveDateTime=…, effectivePeriod=…)."""
    resource: dict[str, Any] = {"resourceType": "MedicationStatement", "id": mid, "status": status, "subject": SUBJECT, **dates}
    if drug is None:
        resource["medicationReference"] = {"reference": "Medication/xyz"}
    else:
        resource["medicationCodeableConcept"] = drug
    return resource


def request(drug: dict[str, Any], status: str = "completed", mid: str = "mr1", **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": "order",
        "subject": SUBJECT,
        "medicationCodeableConcept": drug,
        **fields,
    }


def doubts(found: list[Fact] | tuple[Fact, ...]) -> list[tuple[str, str]]:
    return [(f.key, f.refs[0]) for f in found]


# --------------------------------------------------------------------------- nonopioid trial


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (statement(IBUPROFEN, "completed", effectiveDateTime=ago(30)), END_UNKNOWN),  # taken 30 days ago, end not given
        (request(IBUPROFEN, authoredOn=ago(30)), END_UNKNOWN),
        (statement(IBUPROFEN, "stopped"), END_UNKNOWN),  # undated
        (statement(IBUPROFEN, "unknown", effectiveDateTime=ago(400)), END_UNKNOWN),  # may still be taken
        (statement(concept("161", RXNORM, "acetaminophen"), "completed", effectiveDateTime=ago(89)), END_UNKNOWN),
        (statement(None, effectiveDateTime=ago(10)), UNRESOLVED_MEDICATION),  # names no drug: any drug could be it
        (statement({"coding": [{"system": RXNORM}]}, effectiveDateTime=ago(10)), UNREADABLE),  # no code, no text
        (statement({"text": "Indomethacin 25 mg capsule"}, effectiveDateTime=ago(10)), UNRECOGNISED_TEXT),  # text only
        (statement(concept("KET10", LOCAL, "Ketorolac tromethamine 10 mg tablet")), UNRECOGNISED_TEXT),
        (statement({"text": "NSAID as needed"}, "completed", effectiveDateTime=ago(40)), UNRECOGNISED_TEXT),
        (statement(IBUPROFEN, "completed", effectiveDateTime=ago(200)), None),  # begun and done before the window
        (statement(IBUPROFEN, "completed", effectivePeriod={"start": ago(150), "end": ago(100)}), None),  # ended before
        (statement(IBUPROFEN, "not-taken", effectiveDateTime=ago(30)), None),
        (statement(IBUPROFEN, "entered-in-error", effectiveDateTime=ago(30)), None),
        (statement(None, "completed", effectiveDateTime=ago(300)), None),  # whatever it was, it ended long ago
        (statement({"text": "Lisinopril 10 mg"}, effectiveDateTime=ago(10)), None),  # names a drug, not a nonopioid
        (statement({"text": "Tylenol"}, "completed", effectivePeriod={"start": ago(300), "end": ago(200)}), None),
    ],
    ids=[
        "completed-30d",
        "request-completed-30d",
        "stopped-undated",
        "status-unknown",
        "acetaminophen-89d",
        "unresolved",
        "no-code",
        "text-indomethacin",
        "local-ketorolac",
        "class-text",
        "completed-200d",
        "ended-100d",
        "not-taken",
        "entered-in-error",
        "unresolved-300d",
        "other-drug",
        "brand-ended-200d",
    ],
)
def test_an_entry_that_could_be_a_nonopioid_trial_is_doubt(resource: dict[str, Any], reason: str | None) -> None:
    """An NSAID or acetaminophen whose end is not given but that may fall in the 90 days, a medication naming no
    drug or naming an NSAID only in text is doubt, not "no trial"; one over before the window, not taken,
    void or naming another drug is understood."""
    found = build(NECK_PAIN, resource)
    assert found.nonopioid_trial is None
    assert doubts(found.nonopioid_trial_doubt) == ([(reason, f"{resource['resourceType']}/{resource['id']}")] if reason else [])


def test_a_trial_understood_is_a_fact_not_a_doubt() -> None:
    """An active ibuprofen, or one ended 60 days ago, is the nonopioid trial."""
    active = build(NECK_PAIN, statement(IBUPROFEN, effectiveDateTime=ago(30)))
    ended = build(NECK_PAIN, statement(IBUPROFEN, "completed", effectivePeriod={"start": ago(70), "end": ago(60)}))
    assert active.nonopioid_trial is not None and ended.nonopioid_trial is not None


def select(client: TestClient, resources: list[dict[str, Any]], *orders: dict[str, Any], age: int = 50) -> dict[str, str]:
    """The cards' rule ids (→ indicator) for ``orders`` selected with neck pain of 20 days."""
    body = hook_body([patient(age), http_condition("M54.2", "Cervicalgia", 20, "pain"), *resources], list(orders))
    response = client.post(SELECT_URL, json=body)
    assert response.status_code == 200, response.text
    return topics(response.json())


OXY_ORDER = medication_order("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", "m7", days=5)


def test_opioid_first_line_is_silent_when_a_trial_may_be_on_record(shared_client: TestClient) -> None:
    """No opioid-first-line warning with an ibuprofen completed 30 days ago without an end, or an active medication
    whose reference cannot be resolved; it warns with no medication, or an ibuprofen that ended 100 days ago."""
    completed = statement(IBUPROFEN, "completed", effectiveDateTime=days_ago(30))
    unresolved = statement(None, effectiveDateTime=days_ago(10))
    ended = statement(IBUPROFEN, "completed", effectivePeriod={"start": days_ago(120), "end": days_ago(100)})
    assert "opioid-first-line" not in select(shared_client, [completed], OXY_ORDER)
    assert "opioid-first-line" not in select(shared_client, [unresolved], OXY_ORDER)
    assert select(shared_client, [], OXY_ORDER)["opioid-first-line"] == "warning"
    assert select(shared_client, [ended], OXY_ORDER)["opioid-first-line"] == "warning"


def test_a_doubt_only_a_draft_order_raises_does_not_silence() -> None:
    """A doubt whose only entry is one of this request's draft orders (an EHR returning its drafts in the prefetch)
    leaves opioid-first-line as it is; the same doubt from the record silences it."""
    oxycodone = med_order("1049621", "m7")
    from_draft = (Fact(UNRESOLVED_MEDICATION, ("MedicationRequest/m7",)),)
    from_record = (Fact(UNRESOLVED_MEDICATION, ("MedicationStatement/ms1",)),)
    assert med_run("opioid-first-line", med_facts(nonopioid_trial_doubt=from_draft), oxycodone) is not None
    assert med_run("opioid-first-line", med_facts(nonopioid_trial_doubt=from_record), oxycodone) is None


# --------------------------------------------------------------------------- chronic steroid use


def prednisone(
    start_days: int | None = 200, mg: float | None = None, status: str = "active", mid: str = "st1", dated: Callable[[int], str] = ago
) -> dict[str, Any]:
    """Prednisone 5 mg on record since ``start_days`` ago (by ``dated``), ``mg`` a day (None: the dose in text only)."""
    dosage: dict[str, Any] = {"text": "5 mg daily"}
    if mg is not None:
        dosage = {
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}}],
        }
    dates = {} if start_days is None else {"effectivePeriod": {"start": dated(start_days)}}
    return {**statement(PREDNISONE_5, status, mid, **dates), "dosage": [dosage]}


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (prednisone(), STEROID_DOSE),  # long-term, dose in text only
        (prednisone(start_days=None, mg=5), STEROID_DOSE),  # a chronic dose, since when?
        ({**prednisone(mg=5), "effectivePeriod": {"start": "yesterday"}}, UNREADABLE),
        (statement(None, effectiveDateTime=ago(300)), UNRESOLVED_MEDICATION),  # active, names no drug
        (condition("STEROID-LT", None, "lt", system=LOCAL, display="Long-term use of systemic steroids"), UNRECOGNISED_TEXT),
        (statement({"text": "Medrol 4 mg tablet"}, effectiveDateTime=ago(300)), STEROID_DOSE),  # a brand is its drug
        (prednisone(start_days=30, mg=5), None),  # known dose, not yet 90 days
        (prednisone(mg=2), None),  # known dose under 2.5 mg/day
        (prednisone(status="completed"), None),  # not taken now
        (statement(None, "completed", effectiveDateTime=ago(300)), None),
        (statement({"text": "Hydrocortisone 1 % cream"}, effectiveDateTime=ago(300)), None),
        (condition("STEROID-LT", None, "lt", system=LOCAL, display="Long-term use of systemic steroids", status="resolved"), None),
    ],
    ids=[
        "dose-text",
        "no-start",
        "invalid",
        "unresolved",
        "local-condition",
        "brand-text",
        "short",
        "low-dose",
        "completed",
        "unresolved-completed",
        "topical-text",
        "resolved-condition",
    ],
)
def test_an_entry_that_could_be_chronic_steroid_use_is_doubt(resource: dict[str, Any], reason: str | None) -> None:
    """At 50 (no fracture-risk question, so nothing uncertain), a steroid whose dose or start is not known, an entry
    failing validation, a medication naming no drug, text naming long-term steroid use or an oral steroid brand is
    doubt about chronic steroid use; a known short or low dose, a stopped steroid, a cream or a resolved condition is not."""
    found = build(NECK_PAIN, resource, age=50)
    assert found.chronic_steroid is None and STEROID_DOSE not in [f.key for f in found.uncertain]
    assert doubts(found.chronic_steroid_doubt) == ([(reason, f"{resource['resourceType']}/{resource['id']}")] if reason else [])


PRED_ORDER = medication_order("312615", "prednisone 20 MG Oral Tablet", "m2", days=5, per_day=1)


def test_steroid_warning_is_silent_when_chronic_use_cannot_be_ruled_out(shared_client: TestClient) -> None:
    """No "axial" steroid warning at 50 beside prednisone taken 200 days at a dose given only in text; the
    warning stands beside prednisone 5 mg a day begun 30 days ago, and is silent beside a known chronic dose."""
    assert "systemic-corticosteroid" not in select(shared_client, [prednisone(dated=days_ago)], PRED_ORDER)
    short = prednisone(start_days=30, mg=5, dated=days_ago)
    assert select(shared_client, [short], PRED_ORDER)["systemic-corticosteroid"] == "warning"
    assert "systemic-corticosteroid" not in select(shared_client, [prednisone(mg=5, dated=days_ago)], PRED_ORDER)


# --------------------------------------------------------------------------- opioids in recent months


def test_new_start_supply_warning_is_silent_when_a_recent_opioid_may_be_on_record(shared_client: TestClient) -> None:
    """opioid-risk calls a 10-day oxycodone a long new start with no opioid on record, not beside an oxycodone
    completed 30 days ago without an end date, nor a "narcotic pain medicine" named in text only."""
    long_order = medication_order("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", "m7", days=10)
    ibuprofen = statement(IBUPROFEN, effectiveDateTime=days_ago(5), mid="nsaid")  # a trial: opioid-first-line apart

    def cards(*resources: dict[str, Any]) -> dict[str, str]:
        return select(shared_client, [ibuprofen, *resources], long_order)

    assert cards().get("opioid-risk") == "warning"
    assert "opioid-risk" not in cards(statement(OXYCODONE, "completed", effectiveDateTime=days_ago(30)))
    assert "opioid-risk" not in cards(statement({"text": "Narcotic pain medicine"}, effectiveDateTime=days_ago(20)))


# --------------------------------------------------------------------------- neuropathic diagnosis


@pytest.mark.parametrize(
    ("entry", "doubted"),
    [
        (condition("RAD-C6", 100, "dx", system=LOCAL, display="Left C6 cervical radiculopathy"), True),
        (condition("DPN", 100, "dx", system=LOCAL, display="Painful diabetic polyneuropathy"), True),
        ({**condition("x", 100, "dx"), "code": {"text": "Sciatica, right"}}, True),
        (condition("DPN", 100, "dx", system=LOCAL, display="Diabetic polyneuropathy", status="resolved"), False),
        (condition("HTN", 100, "dx", system=LOCAL, display="Essential hypertension"), False),
        (condition("M54.12", 100, "dx", ICD10, display="Radiculopathy, cervical region"), False),  # understood: present
    ],
    ids=["local-radiculopathy", "local-neuropathy", "text-sciatica", "resolved", "unrelated", "coded"],
)
def test_gabapentinoid_no_neuropathic_reason_is_silent_on_doubt(entry: dict[str, Any], doubted: bool) -> None:
    """A condition in no value set whose text names radiculopathy or a neuropathy (not resolved) leaves the
    neuropathic diagnosis in doubt, and gabapentinoid-check drops its "no neuropathic diagnosis" reason."""
    found = build(NECK_PAIN, entry)
    assert bool(found.neuropathic_doubt) is doubted
    facts = med_facts(50, neuropathic=found.neuropathic, neuropathic_doubt=found.neuropathic_doubt)
    result = med_run("gabapentinoid-check", facts, med_order("310431", "g1"))
    assert (result is not None and "no-neuropathic" in [r.key for r in result.reasons]) is (not doubted and found.neuropathic is None)


# --------------------------------------------------------------------------- the words


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("Naloxone (opioid antagonist) nasal spray", None),
        ("Methylnaltrexone for opioid-induced constipation", None),
        ("Non-narcotic analgesic", None),
        ("Hydrocortisone 1 % cream", None),
        ("Optic neuritis", None),
        ("Omeprazole 20 mg", None),
        ("Opiates as needed", "recent-opioid"),
        ("Etodolac 400 mg", "nonopioid-trial"),
        ("Non-steroidal anti-inflammatory drug", "nonopioid-trial"),
        ("Steroid-dependent asthma", "chronic-steroid"),
        ("Postherpetic neuralgia", "neuropathic"),
        ("Lumbar radiculopathy", "neuropathic"),
        ("Cervical spondylosis without myelopathy or radiculopathy", None),
        ("Type 2 diabetes mellitus without neuropathy", None),
    ],
)
def test_fact_words_name_their_fact_and_not_neighbours(text: str, group: str | None) -> None:
    """The medication and neuropathy words match their fact's names, and not an antagonist, a non-narcotic, a cream
    of hydrocortisone, an unrelated neuritis or a diagnosis "without" radiculopathy or neuropathy."""
    words = content().index.fact_text
    mine = ("nonopioid-trial", "recent-opioid", "chronic-steroid", "neuropathic")
    assert [g for g in mine if words[g].search(text.lower())] == ([group] if group else [])


def test_icd10_coded_neuropathy_outside_the_value_set_is_doubt() -> None:
    """An ICD-10-CM G58.9 "Mononeuropathy, unspecified" (not in neuropathic-pain) makes the neuropathic diagnosis
    doubtful; G56.00 "Carpal tunnel syndrome" names no neuropathy and is understood as something else."""
    found = build(NECK_PAIN, condition("G58.9", 100, "mn", display="Mononeuropathy, unspecified"))
    assert found.neuropathic is None and doubts(found.neuropathic_doubt) == [(UNRECOGNISED_TEXT, "Condition/mn")]
    found = build(NECK_PAIN, condition("G56.00", 100, "cts", display="Carpal tunnel syndrome, unspecified upper limb"))
    assert found.neuropathic_doubt == ()
