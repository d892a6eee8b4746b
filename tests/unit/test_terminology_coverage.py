"""The bundled value sets recognise the codes real (SNOMED-coded, Synthea) records use."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.terminology import ICD10CM, LOINC, RXNORM, SNOMED, Terminology, load_terminology

CARDS = Path(__file__).resolve().parents[2] / "cards"


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    return load_terminology(CARDS)


@pytest.mark.parametrize(
    ("valueset", "system", "code"),
    [
        ("malignancy", SNOMED, "93761005"),  # primary malignant neoplasm of colon
        ("malignancy", SNOMED, "109838007"),  # overlapping malignant neoplasm of colon
        ("malignancy", SNOMED, "92691004"),  # carcinoma in situ of prostate (Synthea's prostate cancer)
        ("malignancy", ICD10CM, "Z85.46"),  # personal history of malignant neoplasm of prostate
        ("malignancy", ICD10CM, "C18.9"),
        ("heart-failure", SNOMED, "88805009"),  # chronic congestive heart failure
        ("ckd-stage-4-5", SNOMED, "433146000"),  # CKD stage 5
        ("ckd-stage-4-5", ICD10CM, "Z99.2"),  # dependence on renal dialysis
        ("immunosuppression", SNOMED, "70536003"),  # kidney transplant (procedure)
        ("osteoporosis", SNOMED, "443165006"),  # osteoporotic fracture
        ("falls", SNOMED, "161898004"),
        ("iv-drug-use", SNOMED, "75544000"),  # opioid dependence
        ("peptic-ulcer", ICD10CM, "K92.0"),  # haematemesis, from the bleeding superset
        ("neck-upper-back-pain", SNOMED, "39848009"),  # whiplash injury to neck
        ("egfr", LOINC, "33914-3"),
    ],
)
def test_real_record_codes_are_members(terminology: Terminology, valueset: str, system: str, code: str) -> None:
    """Each code from the product's real-record findings is in the value set that should recognise it."""
    assert terminology.valueset(valueset).contains(system, code)


@pytest.mark.parametrize(
    ("valueset", "system", "code"),
    [
        ("ckd-stage-4-5", ICD10CM, "N17.9"),  # acute kidney failure
        ("ckd-stage-4-5", ICD10CM, "N18.3"),  # CKD stage 3
        ("ckd-stage-4-5", SNOMED, "433144002"),  # CKD stage 3
        ("iv-drug-use", SNOMED, "7200002"),  # alcoholism is no proxy for injection drug use
        ("malignancy", ICD10CM, "C44.91"),  # basal cell carcinoma of skin
        ("malignancy", ICD10CM, "D48.5"),  # neoplasm of uncertain behaviour of skin
        ("peptic-ulcer", ICD10CM, "I61.9"),  # intracerebral haemorrhage: bleeding, not GI bleeding
        ("anticoagulants", RXNORM, "309362"),  # clopidogrel is an antiplatelet
    ],
)
def test_superset_members_outside_the_concept_stay_out(terminology: Terminology, valueset: str, system: str, code: str) -> None:
    """Members of a superset that are not the concept (AKI, CKD 3, alcohol, skin cancer, other bleeding) are not selected."""
    assert not terminology.valueset(valueset).contains(system, code)


@pytest.mark.parametrize(
    ("code", "display"),
    [
        ("198377", "Tacrolimus 1 MG Oral Capsule"),
        ("108513", "Tacrolimus 1 MG Oral Capsule [Prograf]"),
        ("200060", "mycophenolate mofetil 500 MG Oral Tablet"),
        ("616435", "mycophenolate mofetil 500 MG Oral Tablet [Cellcept]"),
        ("616449", "Mycophenolic Acid 360 MG Delayed Release Oral Tablet [Myfortic]"),
        ("835900", "cycloSPORINE 50 MG Oral Capsule"),  # as a Synthea record codes it
    ],
)
def test_immunosuppressant_products_and_brands_are_recognised(terminology: Terminology, code: str, display: str) -> None:
    """Generic and brand tacrolimus, mycophenolate and cyclosporine products are immunosuppressant drugs."""
    assert terminology.drug_in("immunosuppressant-drugs", [(RXNORM, code, display)])


def test_corticosteroids_are_not_immunosuppressant_drugs(terminology: Terminology) -> None:
    """Prednisone and prednisolone products stay out of immunosuppressant-drugs (they are the fracture-risk path)."""
    for code in ("312617", "8640", "8638"):
        assert not terminology.drug_in("immunosuppressant-drugs", [(RXNORM, code)])
    assert terminology.drug_in("systemic-corticosteroids", [(RXNORM, "312617")])
