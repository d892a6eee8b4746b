"""Offline RxNorm: product codes -> ingredients, strengths, route and extended-release flag.

Orders carry product codes (SCD/SBD such as 828320 "Cyclobenzaprine hydrochloride 5 MG Oral
Tablet"), while value sets list ingredients. `RxNormIndex` maps a medication's codings to
ingredient codes: a known product maps to its ingredients, a known ingredient code to itself,
and when no coding is known it falls back to ingredient and brand names found (as whole words,
case-insensitive) in the text and the coding displays.

The bundled table (``data/rxnorm-products.tsv``) is produced by
``scripts/derive_rxnorm_products.py``; see that script for the column meanings.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cds_service.terminology.drugnames import (
    INGREDIENTS,
    NameMatcher,
    is_extended_release,
    route_of,
)
from cds_service.terminology.errors import TerminologyError
from cds_service.terminology.systems import RXNORM, canonical_system

DEFAULT_PRODUCTS = Path(__file__).parent / "data" / "rxnorm-products.tsv"
ROUTES = frozenset({"oral", "topical", "injectable", "transdermal", "other"})
_COLUMNS = ["rxcui", "name", "ingredients", "strengths_mg", "route", "extended_release"]

#: A coding as (system, code) or (system, code, display).
MedCoding = tuple[str | None, str | None] | tuple[str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Product:
    """One RxNorm product of the bundled table."""

    rxcui: str
    name: str
    ingredients: tuple[str, ...]
    strengths_mg: tuple[float | None, ...]
    route: str
    extended_release: bool


@dataclass(frozen=True, slots=True)
class MedicationInfo:
    """What the terminology can tell about one medication: ingredients and form."""

    ingredients: frozenset[str]
    product: Product | None
    route: str | None
    extended_release: bool


class RxNormIndex:
    """Product and ingredient lookups, compiled once."""

    def __init__(self, products: Mapping[str, Product]) -> None:
        self._products = dict(products)
        self._ingredient_sets = {rxcui: frozenset(p.ingredients) for rxcui, p in self._products.items()}
        self._ingredients = frozenset(INGREDIENTS)
        self._names = NameMatcher.for_ingredients(_brand_names(self._products.values()))

    @classmethod
    def load(cls, path: Path = DEFAULT_PRODUCTS) -> RxNormIndex:
        """Load the product table (the bundled one by default)."""
        return cls(read_products(Path(path)))

    def __len__(self) -> int:
        return len(self._products)

    def product(self, rxcui: str) -> Product | None:
        """The product with code ``rxcui``, if it is in the table."""
        return self._products.get(rxcui.strip())

    def is_ingredient(self, rxcui: str) -> bool:
        """Whether ``rxcui`` is one of the known ingredient codes."""
        return rxcui in self._ingredients

    def ingredients_for(self, codings: Iterable[MedCoding], text: str | None = None) -> frozenset[str]:
        """Ingredient codes of a medication, from its codings, else from names in text/displays."""
        codings = tuple(codings)
        found, _ = self._from_codes(codings)
        return found or self._names.find(_words(text, codings))

    def coded_ingredients(self, codings: Iterable[MedCoding]) -> frozenset[str]:
        """Ingredient codes of a medication from its RxNorm codes alone (empty: no code is known)."""
        return self._from_codes(tuple(codings))[0]

    def product_for(self, codings: Iterable[MedCoding]) -> Product | None:
        """The first RxNorm coding that is a known product."""
        for coding in codings:
            if coding[0] and coding[1] and canonical_system(coding[0]) == RXNORM:
                product = self._products.get(coding[1].strip())
                if product is not None:
                    return product
        return None

    def describe(self, codings: Iterable[MedCoding], text: str | None = None) -> MedicationInfo:
        """Ingredients, product, route and ER/LA flag of a medication.

        Route and the ER/LA flag come from the product when a product code is known, otherwise from
        dose-form words in the text ("topical gel", "ER", "patch"); route is None when nothing says.
        """
        codings = tuple(codings)
        found, product = self._from_codes(codings)
        if product is not None:
            return MedicationInfo(found, product, product.route, product.extended_release)
        words = _words(text, codings)
        ingredients = found or self._names.find(words)
        route = route_of(words) if words else None
        return MedicationInfo(ingredients, None, route, is_extended_release(words, route, ingredients))

    def _from_codes(self, codings: Sequence[MedCoding]) -> tuple[frozenset[str], Product | None]:
        found: frozenset[str] = frozenset()
        first: Product | None = None
        for coding in codings:
            system, code = coding[0], coding[1]
            if not system or not code or canonical_system(system) != RXNORM:
                continue
            code = code.strip()
            product = self._products.get(code)
            if product is not None:
                found = found | self._ingredient_sets[code] if found else self._ingredient_sets[code]
                first = first or product
            elif code in self._ingredients:
                found = found | {code}
        return found, first


def read_products(path: Path) -> dict[str, Product]:
    """Read a product table written by ``scripts/derive_rxnorm_products.py``."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise TerminologyError(path, 0, f"cannot read product table: {exc}") from None
    products: dict[str, Product] = {}
    with handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != _COLUMNS:
            raise TerminologyError(path, 1, f"header must be {' '.join(_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                product = _product(row)
            except ValueError as exc:
                raise TerminologyError(path, line, str(exc)) from None
            products[product.rxcui] = product
    return products


def _product(row: Sequence[str]) -> Product:
    if len(row) != len(_COLUMNS):
        raise ValueError(f"expected {len(_COLUMNS)} tab-separated columns, got {len(row)}")
    rxcui, name, ingredients, strengths, route, extended = row
    codes = tuple(ingredients.split("|")) if ingredients else ()
    values = tuple(float(s) if s else None for s in strengths.split("|"))
    if not rxcui.isdigit() or not codes or not all(c.isdigit() for c in codes):
        raise ValueError("rxcui and ingredients must be numeric RxNorm codes")
    if len(values) != len(codes):
        raise ValueError("strengths_mg must have one entry per ingredient")
    if route not in ROUTES or extended not in ("0", "1"):
        raise ValueError(f"route must be one of {sorted(ROUTES)} and extended_release 0 or 1")
    return Product(rxcui, name, codes, values, route, extended == "1")


def _words(text: str | None, codings: Sequence[MedCoding]) -> str:
    """The medication text and the coding displays, joined for name matching."""
    displays = [coding[2] for coding in codings if len(coding) > 2 and coding[2]]
    return " \n ".join([text, *displays]) if text else " \n ".join(displays)


def _brand_names(products: Iterable[Product]) -> dict[str, frozenset[str]]:
    """Brand name -> the ingredients common to all its products ("Percocet" -> oxycodone, APAP)."""
    brands: dict[str, frozenset[str]] = {}
    for product in products:
        if product.name.endswith("]") and "[" in product.name:
            brand = product.name[product.name.rindex("[") + 1 : -1].strip().lower()
            current = frozenset(product.ingredients)
            brands[brand] = brands[brand] & current if brand in brands else current
    return {brand: codes for brand, codes in brands.items() if codes and len(brand) >= 3}
