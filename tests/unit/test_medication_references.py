"""Medications however they are referenced: medicationReference to a contained Medication, to one
the request carries (prefetch ``_include`` entries), or unresolved (facts/medrefs.py), in the record
and among the draft orders alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.medrefs import MedicationIndex, drug_concept, medication_concept, medication_ref, referenced
from cds_service.facts.model import DATA_KEYS, PatientFacts
from cds_service.facts.orders import screen, validated_orders
from cds_service.facts.record import Record, select_record
from cds_service.fhir.searchset import Searchset
from cds_service.fixtures import prefetch_for
from cds_service.protocol.services import PREFETCH
from tests.conftest import RXNORM, UCUM, concept, medication_order
from tests.unit.rules_support import TODAY, content
from tests.unit.test_facts import NECK_PAIN, ago, patient

SUBJECT = {"reference": "Patient/p1"}
CYCLOBENZAPRINE = concept(RXNORM, "828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet")
OXYCODONE = concept(RXNORM, "1049621", "Oxycodone hydrochloride 5 MG Oral Tablet")
DIAZEPAM = concept(RXNORM, "197591", "Diazepam 5 MG Oral Tablet")
APIXABAN = concept(RXNORM, "1364445", "Apixaban 5 MG Oral Tablet")


def medication(mid: str, code: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Medication", "id": mid, **fields}
    if code is not None:
        resource["code"] = code
    return resource


def statement(sid: str, reference: str, *, display: str | None = None, **fields: Any) -> dict[str, Any]:
    """An active MedicationStatement started 200 days ago, naming its drug by ``reference``."""
    ref: dict[str, Any] = {"reference": reference}
    if display is not None:
        ref["display"] = display
    return {"resourceType": "MedicationStatement", "id": sid, "status": "active", "subject": SUBJECT,
            "medicationReference": ref, "effectivePeriod": {"start": ago(200)}, **fields}  # fmt: skip


def by_reference(order: dict[str, Any], reference: str, display: str | None = None) -> dict[str, Any]:
    """``order`` naming its drug by ``reference`` instead of its medicationCodeableConcept."""
    out = {k: v for k, v in order.items() if k != "medicationCodeableConcept"}
    out["medicationReference"] = {"reference": reference, **({"display": display} if display else {})}
    return out


def record_of(*resources: dict[str, Any], age: int = 70) -> Record:
    return select_record({"all": [patient(age), NECK_PAIN, *resources]}, content().index, "p1")


def facts_of(record: Record) -> PatientFacts:
    c = content()
    return build_facts(record, c.terminology, c.facts.params, TODAY, frozenset(DATA_KEYS))


# ------------------------------------------------------------------------------ references


@pytest.mark.parametrize(
    ("reference", "ref"),
    [
        ("Medication/med-1", "Medication/med-1"),
        ("https://ehr.example.org/fhir/Medication/med-1", "Medication/med-1"),
        ("Medication/med-1/_history/3", "Medication/med-1"),
        (" Medication/A.b-9 ", "Medication/A.b-9"),
        ("#med-1", None),
        ("Substance/med-1", None),
        ("Medication/", None),
        ("Medication/a/b", None),
        (None, None),
    ],
)
def test_medication_ref_reads_relative_absolute_and_versioned_references(reference: Any, ref: str | None) -> None:
    """Relative, absolute and versioned references name Medication/<id>; anything else names none."""
    assert medication_ref(reference) == ref


def test_code_wins_over_a_reference_and_a_contained_medication_resolves() -> None:
    """medicationCodeableConcept is used as is; '#id' resolves to the contained Medication's code."""
    coded = medication_order("828320", "Cyclobenzaprine")
    assert drug_concept(coded, MedicationIndex()) == (coded["medicationCodeableConcept"], None)
    assert referenced(coded) is None
    order = by_reference(coded, "#m")
    order["contained"] = [{"resourceType": "Patient", "id": "m"}, medication("m", CYCLOBENZAPRINE)]
    assert drug_concept(order, MedicationIndex()) == (CYCLOBENZAPRINE, None)
    assert referenced(order) is None


def test_a_reference_resolves_to_a_medication_the_request_carries() -> None:
    """Medication/<id> (relative or absolute) resolves among the indexed resources; the first copy wins."""
    index = MedicationIndex([medication("x", OXYCODONE), medication("x", DIAZEPAM)], [{"resourceType": "Patient"}])
    for reference in ("Medication/x", "https://ehr.example.org/fhir/Medication/x"):
        resource = statement("s1", reference)
        assert referenced(resource) == "Medication/x"
        assert drug_concept(resource, index) == (OXYCODONE, None)


def test_the_index_reads_its_sources_on_first_use_only() -> None:
    """No source is iterated until a reference needs one; added (fetched) Medications count too."""
    read: list[str] = []

    def source() -> Iterator[dict[str, Any]]:
        read.append("read")
        yield medication("x", OXYCODONE)

    index = MedicationIndex(source())
    assert read == []
    index.add({"Medication/y": medication("y", DIAZEPAM)})
    assert index.get("Medication/y") == medication("y", DIAZEPAM) and index.get("Medication/x") is not None
    assert read == ["read"]


@pytest.mark.parametrize(
    ("reference", "display", "expected"),
    [
        ("Medication/gone", "Diazepam 5 mg tablet", ({"text": "Diazepam 5 mg tablet"}, "Medication/gone")),
        ("#missing", None, (None, "#missing")),
        (None, "  ", (None, "")),
    ],
)
def test_an_unresolved_reference_keeps_its_display_as_text(reference: Any, display: Any, expected: Any) -> None:
    """An unresolved reference is reported, with its display (if any) as the drug's text."""
    resource = statement("s1", reference, display=display)
    assert drug_concept(resource, MedicationIndex()) == expected


def test_medication_concept_adds_ingredient_codings() -> None:
    """A Medication's ingredients add their codings; without a code their text names the drug."""
    ingredient = {"itemCodeableConcept": concept(RXNORM, "21949", "cyclobenzaprine"), "isActive": True}
    full = medication_concept(medication("m", CYCLOBENZAPRINE, ingredient=[ingredient, {"itemReference": {}}]))
    assert full["text"] == CYCLOBENZAPRINE["text"]
    assert [c["code"] for c in full["coding"]] == ["828320", "21949"]
    only = medication_concept(medication("m", None, ingredient=[ingredient]))
    assert only == {"coding": ingredient["itemCodeableConcept"]["coding"], "text": "cyclobenzaprine"}
    assert medication_concept(medication("m", CYCLOBENZAPRINE, ingredient="junk")) == CYCLOBENZAPRINE


# ------------------------------------------------------------------------------ the record


def test_included_medications_are_kept_by_bundle_reading_and_fixture_prefetch() -> None:
    """Bundle entries with search.mode=include are read for the template's _include; fixture prefetches add them."""
    resources = [patient(70), statement("s1", "Medication/oxy"), medication("oxy", OXYCODONE), medication("unused")]
    prefetch = prefetch_for(resources)
    entries = prefetch["medicationStatements"]["entry"]
    assert [(e["resource"]["id"], e.get("search")) for e in entries] == [("s1", None), ("oxy", {"mode": "include"})]
    found = Searchset(next(q.template for q in PREFETCH if q.key == "medicationStatements"))
    found.add(prefetch["medicationStatements"])
    assert [r["id"] for r in found.finish()] == ["s1", "oxy"]


@pytest.mark.parametrize("how", ["contained", "prefetched"])
def test_record_medications_by_reference_count_as_active_drugs(how: str) -> None:
    """MedicationStatements naming oxycodone, diazepam and apixaban by reference are an active opioid,
    benzodiazepine and anticoagulant."""
    drugs = {"oxy": OXYCODONE, "dzp": DIAZEPAM, "apx": APIXABAN}
    resources: list[dict[str, Any]] = []
    for mid, code in drugs.items():
        if how == "contained":
            resources.append(statement(f"s-{mid}", f"#{mid}", contained=[medication(mid, code)]))
        else:
            resources += [statement(f"s-{mid}", f"Medication/{mid}"), medication(mid, code)]
    record = record_of(*resources)
    assert record.unresolved == ()
    facts = facts_of(record)
    assert facts.recent_opioid is not None and facts.recent_opioid.refs == ("MedicationStatement/s-oxy",)
    assert facts.anticoagulant is not None and facts.anticoagulant.refs == ("MedicationStatement/s-apx",)
    (benzodiazepine,) = [m for m in facts.medications if "benzodiazepines" in m.valuesets]
    assert benzodiazepine.active and benzodiazepine.display == DIAZEPAM["text"]


def test_a_referenced_product_gives_the_strength_for_the_dose() -> None:
    """A prednisone product code on the referenced Medication turns '2 tablets a day' into mg for the steroid fact."""
    dosage = [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
               "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet", "system": UCUM, "code": "{tbl}"}}]}]  # fmt: skip
    prednisone = concept(RXNORM, "312617", "Prednisone 5 MG Oral Tablet")
    facts = facts_of(record_of(statement("s1", "Medication/pred", dosage=dosage), medication("pred", prednisone)))
    assert facts.chronic_steroid is not None and facts.chronic_steroid.value == 10.0


def test_unresolved_references_are_recorded_and_logged_without_phi(caplog: pytest.LogCaptureFixture) -> None:
    """An unresolved reference (unless entered in error) is listed in Record.unresolved; its display still
    classifies; the log has a count only."""
    caplog.set_level(logging.DEBUG)
    record = record_of(
        statement("s1", "Medication/secret-med-id", display="Diazepam 5 mg tablet"),
        statement("s2", "#nowhere"),
        statement("s3", "Medication/oxy"),  # resolved below
        medication("oxy", OXYCODONE),
        statement("s4", "Medication/void", status="entered-in-error"),
        statement("s5", "Medication/odd", status=["not", "a", "code"]),
    )
    assert record.unresolved == (
        ("MedicationStatement/s1", "Diazepam 5 mg tablet"),
        ("MedicationStatement/s2", ""),
        ("MedicationStatement/s5", ""),
    )
    by_ref = {e.ref: e for e in record.candidates}
    assert "benzodiazepines" in by_ref["MedicationStatement/s1"].valuesets
    assert "MedicationStatement/s2" not in by_ref and "opioids" in by_ref["MedicationStatement/s3"].valuesets
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "medication references unresolved" in logged
    assert "secret-med-id" not in logged and "Diazepam" not in logged and "s1" not in logged.split()


# ------------------------------------------------------------------------------ draft orders


def test_draft_order_with_a_contained_medication_is_the_medication() -> None:
    """A draft naming cyclobenzaprine 5 mg by a contained Medication is a Beers relaxant at 5 mg x 3/day."""
    order = by_reference(medication_order("828320", "x", per_day=3), "#med")
    order["contained"] = [medication("med", CYCLOBENZAPRINE)]
    (built,) = validated_orders(screen([{"resource": order}], None, content().index), content().index)
    assert built.in_any("muscle-relaxants-beers") and built.display == CYCLOBENZAPRINE["text"]
    assert built.medication is not None
    assert built.medication.dose.dose_mg == 5.0 and built.medication.dose.doses_per_day == 3.0


def test_draft_order_resolves_through_the_medication_index() -> None:
    """A draft naming Medication/<id> is classified by that Medication's code and ingredients."""
    ingredient_only = medication("cbz", {"text": "Muscle relaxant tablet"},
                                 ingredient=[{"itemCodeableConcept": concept(RXNORM, "21949", "cyclobenzaprine")}])  # fmt: skip
    order = by_reference(medication_order("828320", "x"), "Medication/cbz")
    ((screened, *_),) = screen([{"resource": order}], None, content().index, MedicationIndex([ingredient_only]))
    assert screened.in_any("muscle-relaxants-beers")
    ((unknown, *_),) = screen([{"resource": order}], None, content().index)
    assert not unknown.in_any("muscle-relaxants-beers")


def test_an_unresolved_draft_order_is_kept_without_a_made_up_medication() -> None:
    """An unresolved draft stays an order named by its display (classified by name) or its reference; with
    neither, it has no medication."""
    named = by_reference(medication_order("828320", "x", oid="m1"), "Medication/gone", "cyclobenzaprine 10 mg tab")
    bare = by_reference(medication_order("828320", "x", oid="m2"), "Medication/gone")
    first, second = validated_orders(screen([{"resource": named}, {"resource": bare}], None, content().index), content().index)
    assert first.display == "cyclobenzaprine 10 mg tab" and first.in_any("muscle-relaxants-beers")
    assert first.medication is not None
    assert second.ref == "MedicationRequest/m2" and second.display == "Medication/gone" and second.selected
    assert second.valuesets == frozenset() and second.medication is None
