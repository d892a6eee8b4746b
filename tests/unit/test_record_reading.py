"""How record entries are selected and read: what each call works out once, and in which order."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.content.store import ContentStore
from cds_service.facts.dates import UNSURE, stated_date
from cds_service.facts.record import Entry, Record, select_record
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.conftest import TODAY, condition, observation, patient, procedure

INDEX = ContentStore(BUNDLED_CONTENT_DIR).current.index
NECK_PAIN = condition("M54.2", "Cervicalgia", 30, "pain")


def _record(*resources: dict[str, Any], patient_id: str = "p1") -> Record:
    return select_record({"all": [patient(60), *copy.deepcopy(resources)]}, INDEX, patient_id)


def test_only_the_patient_of_the_context_is_the_record_patient() -> None:
    """A Patient resource with another id is neither the record's patient nor an entry."""
    assert _record(NECK_PAIN).patient is not None
    record = _record(NECK_PAIN, patient_id="someone-else")
    assert record.patient is None and [e.ref for e in record.candidates] == ["Condition/pain"]


def test_resources_of_uncoded_types_are_not_entries() -> None:
    """Only resource types with a code the facts read become entries: an Encounter with a coded type does not."""
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished", "code": copy.deepcopy(NECK_PAIN["code"])}
    assert [e.ref for e in _record(NECK_PAIN, encounter).candidates] == ["Condition/pain"]


def test_an_entry_displays_its_concept_text_without_surrounding_spaces() -> None:
    """A concept read from a list (one part without text) displays trimmed, however often the concept recurs."""
    padded = copy.deepcopy(NECK_PAIN)
    coding = {k: v for k, v in padded["code"]["coding"][0].items() if k != "display"}
    padded["code"] = [{"coding": [coding]}, {"text": "  Neck pain  "}]
    for _ in range(2):  # the second record reads the concept's kept classification
        (entry,) = _record(padded).candidates
        assert entry.display == "Neck pain"


def test_candidates_of_one_value_set_are_those_of_the_types_in_record_order() -> None:
    """``candidates_in`` with one value set keeps record order and only the types asked for; an unknown set gives none."""
    later = condition("M54.2", "Cervicalgia", 5, "later")
    record = _record(NECK_PAIN, procedure("72141", "MRI cervical spine", 3, "mri"), later)
    assert [e.ref for e in record.candidates_in(("Condition",), "neck-upper-back-pain")] == ["Condition/pain", "Condition/later"]
    assert record.candidates_in(("Procedure",), "neck-upper-back-pain") == []
    assert record.candidates_in(("Condition",), "no-such-value-set") == []


def test_candidates_of_several_value_sets_are_each_entry_once_in_record_order() -> None:
    """An entry in two of the value sets asked for is listed once, in record order among the others."""
    temperature = observation("8310-5", "Body temperature", 37.0, "Cel", "t1", 1)
    record = _record(temperature, NECK_PAIN)
    refs = [e.ref for e in record.candidates_in(("Condition", "Observation"), "body-temperature", "neck-upper-back-pain", "egfr")]
    assert refs == ["Observation/t1", "Condition/pain"]


def test_usable_is_worked_out_once_per_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading ``usable`` again answers from the entry's memo, without asking for its validity again."""
    (entry,) = _record(NECK_PAIN).candidates
    asked = []
    valid = Entry.valid
    monkeypatch.setattr(Entry, "valid", property(lambda self: asked.append(self.ref) or valid.fget(self)))  # type: ignore[attr-defined]
    assert entry.usable and entry.usable
    assert asked == ["Condition/pain"]


def _dated(**elements: Any) -> dict[str, Any]:
    resource = copy.deepcopy(NECK_PAIN)
    del resource["onsetDateTime"]
    resource.update(elements)
    return resource


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        ({"onsetPeriod": {"end": "2024-02-01"}, "recordedDate": "2024-03-04"}, date(2024, 3, 4)),
        ({"onsetPeriod": {"start": "2023-01-02T08:00:00Z"}, "recordedDate": "2024-03-04"}, date(2023, 1, 2)),
        ({"onsetDateTime": "2022", "recordedDate": "2024-03-04"}, date(2024, 3, 4)),
        ({"onsetDateTime": "2021-05-06T10:00:00+02:00", "recordedDate": "2020-01-01"}, date(2021, 5, 6)),
        ({}, None),
    ],
)
def test_when_is_the_first_date_element_that_holds_a_date(elements: dict[str, Any], expected: date | None) -> None:
    """``when`` reads the date elements in order and takes the first that holds a full date; the JSON states the same date."""
    resource = _dated(**elements)
    (entry,) = _record(resource).candidates
    assert entry.model is not None
    assert entry.when == expected
    assert stated_date(resource) == expected


def test_stated_date_leaves_what_only_validation_can_read_unsure() -> None:
    """A date element that is no string, a Period that is no object, or ten or more characters that are no date are UNSURE."""
    assert stated_date({"onsetDateTime": 20240101}) is UNSURE
    assert stated_date({"onsetPeriod": "2024-01-01"}) is UNSURE
    assert stated_date({"onsetDateTime": "2024-13-01T00:00:00Z"}) is UNSURE
    assert stated_date({"onsetDateTime": "yesterday!"}) is UNSURE
    assert stated_date({"onsetDateTime": "yesterday", "recordedDate": "2024-01-01"}) == date(2024, 1, 1)
    assert stated_date({"onsetPeriod": {"start": None}, "issued": "2024-02-29T23:59:59Z"}) == date(2024, 2, 29)


def test_a_fever_behind_newer_normal_temperatures_is_found() -> None:
    """Newer readings plainly below the threshold are passed over, and the newest fever behind them is the fact."""
    from cds_service.facts.build import build_facts
    from cds_service.facts.model import DATA_KEYS

    content = ContentStore(BUNDLED_CONTENT_DIR).current
    readings = [observation("8310-5", "Body temperature", c, "Cel", f"t{i}", d) for i, (c, d) in enumerate([(36.9, 0), (37.1, 1), (38.6, 2), (39.2, 3)])]
    record = _record(NECK_PAIN, *readings)
    fever = build_facts(record, content.terminology, content.facts.params, TODAY, frozenset(DATA_KEYS)).fever
    assert fever is not None and fever.refs == ("Observation/t2",) and fever.value == 38.6
    assert fever.on == TODAY - timedelta(days=2)
