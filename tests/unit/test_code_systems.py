"""One notion of a code system: every name EHRs send a system under compares as its canonical URL
(terminology/systems.py), in value-set membership, scope, draft orders, RxNorm products and units."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.content.lint_codes import code_problem
from cds_service.facts.build import build_facts
from cds_service.facts.model import DATA_KEYS
from cds_service.facts.orders import screen, validated_orders
from cds_service.facts.record import select_record
from cds_service.rules.scope import gated
from cds_service.terminology import load_valuesets
from cds_service.terminology import systems as systems_module
from cds_service.terminology.systems import (
    CPT,
    ICD10CM,
    ICD10PCS,
    LOINC,
    RXNORM,
    SNOMED,
    UCUM,
    canonical_system,
    normalize_code,
)
from tests.conftest import concept, medication_order, service_order
from tests.unit.rules_support import TODAY, content
from tests.unit.test_facts import NECK_PAIN, condition, observation, patient

VARIANTS = {
    ICD10CM: [
        ICD10CM, "urn:oid:2.16.840.1.113883.6.90", "2.16.840.1.113883.6.90", "http://hl7.org/fhir/sid/icd-10-cm/",
        "https://hl7.org/fhir/sid/icd-10-cm", "HTTP://HL7.ORG/fhir/sid/icd-10-cm", "URN:OID:2.16.840.1.113883.6.90",
    ],
    ICD10PCS: [
        ICD10PCS, "urn:oid:2.16.840.1.113883.6.4", "http://www.cms.gov/medicare/coding/icd10",
        "https://www.cms.gov/Medicare/Coding/ICD10/", "http://www.icd10data.com/icd10pcs",
        "http://hl7.org/fhir/sid/icd-10-pcs",
    ],
    SNOMED: [
        SNOMED, "urn:oid:2.16.840.1.113883.6.96", "http://snomed.info/sct/", "http://snomed.info/sct/731000124108",
        "http://snomed.info/sct/900000000000207008/version/20240301", "https://snomed.info/sct",
    ],
    CPT: [CPT, "urn:oid:2.16.840.1.113883.6.12", "http://ama-assn.org/go/cpt", "https://www.ama-assn.org/go/cpt/"],
    RXNORM: [
        RXNORM, "urn:oid:2.16.840.1.113883.6.88", "http://nlm.nih.gov/research/umls/rxnorm",
        "https://www.nlm.nih.gov/research/umls/rxnorm/", "2.16.840.1.113883.6.88",
    ],
    LOINC: [LOINC, "urn:oid:2.16.840.1.113883.6.1", "https://loinc.org", "http://loinc.org/", "http://www.loinc.org"],
    UCUM: [UCUM, "urn:oid:2.16.840.1.113883.6.8", "http://unitsofmeasure.org/", "https://unitsofmeasure.org"],
}
OID = {ICD10CM: "urn:oid:2.16.840.1.113883.6.90", CPT: "urn:oid:2.16.840.1.113883.6.12", RXNORM: "urn:oid:2.16.840.1.113883.6.88"}


@pytest.mark.parametrize(("canonical", "name"), [(c, n) for c, names in VARIANTS.items() for n in names])
def test_every_name_of_a_system_is_its_canonical_url(canonical: str, name: str) -> None:
    """URLs, OIDs with and without urn:oid:, https, www., letter case, trailing slashes and SNOMED editions map to one URL."""
    assert canonical_system(name) == canonical


@pytest.mark.parametrize(
    "other",
    [
        "http://hl7.org/fhir/sid/icd-10",  # WHO ICD-10, not ICD-10-CM
        "http://hl7.org/fhir/sid/icd-9-cm",
        "urn:oid:2.16.840.1.113883.6.103",  # ICD-9-CM
        "urn:oid:2.16.840.1.113883.6.900",  # an OID that merely starts like ICD-10-CM's
        "http://snomed.info/sct/abc",
        "hl7.org/fhir/sid/icd-10-cm",  # no scheme: not a URL
        "ftp://loinc.org",
        "http://loinc.org.example.com",
        "",
    ],
)
def test_other_systems_stay_as_sent(other: str) -> None:
    """Systems that are not one of the known ones — or only look like one — are left unchanged."""
    assert canonical_system(other) == other


def test_the_answer_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct system strings beyond the cache's limit are still answered, but not remembered."""
    monkeypatch.setattr(systems_module, "_cache", {})
    monkeypatch.setattr(systems_module, "_CACHE_LIMIT", 2)
    assert [canonical_system(f"urn:oid:1.2.{i}") for i in range(5)] == [f"urn:oid:1.2.{i}" for i in range(5)]
    assert canonical_system("https://loinc.org") == LOINC
    assert len(systems_module._cache) == 2


def test_icd_codes_compare_without_dots_and_case() -> None:
    """ICD-10-CM and -PCS codes normalise without dots and upper-cased; other systems keep their codes."""
    assert normalize_code(ICD10CM, " z85.46 ") == "Z8546"
    assert normalize_code(ICD10PCS, "0rg1") == "0RG1"
    assert normalize_code(SNOMED, "363346000 ") == "363346000"


@pytest.mark.parametrize("system", VARIANTS[ICD10CM])
def test_prostate_cancer_history_is_malignancy_under_any_name_of_icd10cm(system: str) -> None:
    """Z85.46 is in the malignancy set (an is-a filter) whatever name of ICD-10-CM it is sent under."""
    assert "malignancy" in content().index.memberships(system, "Z85.46")
    assert content().terminology.valuesets["malignancy"].contains(system, "Z85.46")


@pytest.mark.parametrize(
    ("system", "code", "valueset"),
    [
        (VARIANTS[CPT][1], "72141", "imaging-mri-cervical-spine"),
        (VARIANTS[SNOMED][4], "363346000", "malignancy"),
        (VARIANTS[ICD10PCS][4], "0RG10A0", "cervical-fusion"),
        (VARIANTS[LOINC][2], "8310-5", "body-temperature"),
        (VARIANTS[RXNORM][1], "7804", "opioids"),
    ],
)
def test_listed_and_is_a_codes_are_members_under_variant_names(system: str, code: str, valueset: str) -> None:
    """Listed codes and is-a descendants are members under OIDs, edition URIs and old URLs."""
    assert valueset in content().index.memberships(system, code)


def test_a_valueset_file_may_name_its_system_by_oid(tmp_path: Path) -> None:
    """A value set listing codes under an OID compiles under the canonical URL, found by either name."""
    data = {
        "resourceType": "ValueSet", "id": "demo", "url": "http://cds-service.local/fhir/ValueSet/demo", "version": "1.0.0",
        "status": "active",
        "compose": {"include": [
            {"system": "urn:oid:2.16.840.1.113883.6.90", "concept": [{"code": "M54.2"}]},
            {"system": "http://hl7.org/fhir/sid/icd-10-cm/", "filter": [{"property": "concept", "op": "is-a", "value": "Z85"}]},
        ]},
    }  # fmt: skip
    (tmp_path / "demo.json").write_text(json.dumps(data))
    demo = load_valuesets(tmp_path)["demo"]
    assert list(demo.codes()) == [(ICD10CM, "M54.2")] and list(demo.is_a_roots()) == [(ICD10CM, "Z85")]
    assert demo.contains(ICD10CM, "M54.2") and demo.contains("urn:oid:2.16.840.1.113883.6.90", "Z85.46")


def test_code_lint_checks_codes_under_any_name_of_their_system() -> None:
    """The code checks apply to a system's codes however the value set names the system."""
    assert code_problem(canonical_system("urn:oid:2.16.840.1.113883.6.1"), "8310-4") is not None
    assert code_problem(canonical_system("urn:oid:2.16.840.1.113883.6.1"), "8310-5") is None


def test_oid_coded_record_and_orders_open_the_scope_gate() -> None:
    """An OID-coded neck-pain condition and an OID-coded cervical MRI order are in scope, as URL-coded ones are."""
    c = content()
    pain = condition("M54.2", 30, "pain", system=OID[ICD10CM], display="Cervicalgia")
    record = select_record({"all": [patient(70), pain]}, c.index, "p1")
    facts = build_facts(record, c.terminology, c.facts.params, TODAY, frozenset(DATA_KEYS))
    assert [f.refs for f in facts.scope_conditions] == [("Condition/pain",)]
    mri = service_order("72141", "MRI cervical spine without contrast", system=OID[CPT])
    orders = tuple(order for order, *_ in screen([{"resource": mri}], None, c.index))
    assert orders[0].in_any("imaging-mri-cervical-spine") and gated(facts, orders) == orders
    no_pain = build_facts(select_record({"all": [patient(70)]}, c.index, "p1"), c.terminology, c.facts.params, TODAY,
                          frozenset(DATA_KEYS))  # fmt: skip
    assert gated(no_pain, orders) == orders  # the spine-specific order alone opens it


def test_order_reason_under_an_oid_puts_the_order_in_scope() -> None:
    """A draft order whose reasonCode is M54.2 under the ICD-10-CM OID has its reason in scope."""
    order = medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet")
    order["reasonCode"] = [concept(OID[ICD10CM], "M54.2", "Cervicalgia")]
    ((screened, *_),) = screen([{"resource": order}], None, content().index)
    assert screened.reason_in_scope


def test_product_under_rxnorm_oid_gives_the_strength_and_dose() -> None:
    """A product code under the RxNorm OID is the known product: the tablet dose reads as 5 mg."""
    c = content()
    assert c.terminology.rxnorm.product_for([(OID[RXNORM], "828320")]) == c.terminology.rxnorm.product("828320")
    assert c.terminology.rxnorm.product_for([(SNOMED, "828320")]) is None
    order = medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet")
    order["medicationCodeableConcept"]["coding"][0]["system"] = VARIANTS[RXNORM][2]
    (built,) = validated_orders(screen([{"resource": order}], None, c.index), c.index)
    assert built.in_any("muscle-relaxants-beers")
    assert built.medication is not None and built.medication.dose.dose_mg == 5.0


@pytest.mark.parametrize("unit_system", VARIANTS[UCUM] + [None])
def test_fever_units_do_not_depend_on_the_unit_system(unit_system: str | None) -> None:
    """101 [degF] is a fever whatever the quantity's system is called, or without one."""
    temperature: dict[str, Any] = observation("8310-5", 101.0, "[degF]", 1, "t1")
    temperature["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.1"
    if unit_system is None:
        del temperature["valueQuantity"]["system"]
    else:
        temperature["valueQuantity"]["system"] = unit_system
    c = content()
    record = select_record({"all": [patient(50), NECK_PAIN, temperature]}, c.index, "p1")
    facts = build_facts(record, c.terminology, c.facts.params, TODAY, frozenset(DATA_KEYS))
    assert facts.fever is not None and facts.fever.value == 38.3
