"""Terminology: value sets, offline RxNorm product mapping and ICD-10-CM helpers.

    terminology = load_terminology(Path("cards"))       # value sets from cards/valuesets
    terminology.valuesets["neck-upper-back-pain"].contains("http://hl7.org/fhir/sid/icd-10-cm", "M54.2")
    terminology.drug_in("opioids", [(RXNORM, "1049621")], None)   # product code -> oxycodone

Everything is validated and compiled at load; lookups do no I/O and no parsing.
Errors in content files raise `TerminologyError(path, line, message)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cds_service.terminology.canonical import CanonicalBase, DEFAULT_CANONICAL
from cds_service.terminology.errors import TerminologyError
from cds_service.terminology.rxnorm import DEFAULT_PRODUCTS, MedCoding, MedicationInfo, Product, RxNormIndex
from cds_service.terminology.systems import CPT, ICD10CM, ICD10PCS, LOINC, RXNORM, SNOMED
from cds_service.terminology.valuesets import CompiledValueSet, load_valuesets

__all__ = [
    "CPT",
    "ICD10CM",
    "ICD10PCS",
    "LOINC",
    "RXNORM",
    "SNOMED",
    "CompiledValueSet",
    "MedCoding",
    "MedicationInfo",
    "Product",
    "RxNormIndex",
    "Terminology",
    "TerminologyError",
    "load_terminology",
    "load_valuesets",
]


@dataclass(frozen=True, slots=True)
class Terminology:
    """The value sets and the RxNorm index, loaded together."""

    valuesets: dict[str, CompiledValueSet]
    rxnorm: RxNormIndex

    def valueset(self, valueset_id: str) -> CompiledValueSet:
        """The value set ``valueset_id``; KeyError names it when it does not exist."""
        try:
            return self.valuesets[valueset_id]
        except KeyError:
            raise KeyError(f"unknown value set {valueset_id!r}") from None

    def drug_in(self, valueset_id: str, codings: Iterable[MedCoding], text: str | None = None) -> bool:
        """Whether a medication belongs to a drug value set.

        True when a coding itself is in the set, or when any ingredient of the medication (product
        codes mapped through RxNorm, else ingredient names in ``text`` / displays) is in it.
        """
        valueset = self.valueset(valueset_id)
        codings = tuple(codings)
        if any(valueset.contains(coding[0], coding[1]) for coding in codings):
            return True
        return any(valueset.contains(RXNORM, code) for code in self.rxnorm.ingredients_for(codings, text))


def load_terminology(content_dir: Path, base: CanonicalBase = DEFAULT_CANONICAL, products: Path = DEFAULT_PRODUCTS) -> Terminology:
    """Load value sets from ``content_dir / "valuesets"`` (their urls under ``base``) and the RxNorm product table."""
    return Terminology(load_valuesets(Path(content_dir) / "valuesets", base), RxNormIndex.load(products))
