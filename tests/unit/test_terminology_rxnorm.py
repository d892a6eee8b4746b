"""RxNorm product mapping, name parsing and the derivation script (cds_service.terminology.rxnorm)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cds_service.terminology import RXNORM, RxNormIndex, TerminologyError
from cds_service.terminology.provenance import include_source
from cds_service.terminology.drugnames import INGREDIENTS, NameMatcher, ingredient_code, parse_product_name

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "derive_rxnorm_products.py"


@pytest.fixture(scope="module")
def index() -> RxNormIndex:
    return RxNormIndex.load()


@pytest.mark.parametrize(
    ("rxcui", "ingredients", "strengths"),
    [
        ("828320", ("21949",), (5.0,)),
        ("828348", ("21949",), (10.0,)),
        ("197943", ("6845",), (500.0,)),
        ("313413", ("57258",), (4.0,)),
        ("1049621", ("7804",), (5.0,)),
        ("857002", ("161", "5489"), (325.0, 5.0)),
    ],
)
def test_bundled_products_map_to_their_ingredients(index: RxNormIndex, rxcui: str, ingredients: tuple, strengths: tuple) -> None:
    """The clinical-drug codes used by the vignettes map to the right ingredients and MG strengths."""
    product = index.product(rxcui)
    assert product is not None
    assert product.ingredients == ingredients
    assert product.strengths_mg == strengths
    assert product.route == "oral" and not product.extended_release
    assert index.ingredients_for([(RXNORM, rxcui)]) == frozenset(ingredients)


def test_er_oxycodone_is_flagged_extended_release(index: RxNormIndex) -> None:
    """A 12 HR oxycodone extended-release product is flagged; immediate-release is not."""
    er = index.product("1049502")
    assert er is not None and er.name.startswith("12 HR Oxycodone")
    assert er.ingredients == ("7804",) and er.extended_release
    assert not index.product("1049621").extended_release  # type: ignore[union-attr]


def test_ingredient_code_maps_to_itself_and_unknown_codes_fall_back_to_text(index: RxNormIndex) -> None:
    """A known ingredient code maps to itself; an unknown code falls back to the text and displays."""
    assert index.ingredients_for([(RXNORM, "21949")]) == {"21949"}
    assert index.ingredients_for([(RXNORM, "999999999")], "cyclobenzaprine 10mg tab") == {"21949"}
    assert index.ingredients_for([], "cyclobenzaprine 10mg tab") == {"21949"}
    assert index.ingredients_for([("http://example.org", "x", "Oxycodone HCl 5 mg")]) == {"7804"}
    assert index.ingredients_for([(RXNORM, "1049621")], "cyclobenzaprine") == {"7804"}
    assert index.ingredients_for([], None) == frozenset()


def test_text_fallback_uses_whole_words_and_brand_names(index: RxNormIndex) -> None:
    """Brand names from the product table match; substrings of other drug names do not."""
    assert index.ingredients_for([], "Flexeril 10 mg at bedtime") == {"21949"}
    assert index.ingredients_for([], "Percocet 5/325") == {"7804", "161"}
    assert index.ingredients_for([], "dihydrocodeine 16 mg") == frozenset()
    assert index.ingredients_for([], "methylprednisolone dose pack") == {"6902"}


def test_describe_reads_route_and_release_from_text_when_no_product(index: RxNormIndex) -> None:
    """Without a product code, route and ER/LA come from dose-form words in the text."""
    gel = index.describe([(RXNORM, "999999999", "Diclofenac sodium 1% topical gel")])
    assert gel.ingredients == {"3355"} and gel.route == "topical" and not gel.extended_release
    patch = index.describe([], "fentanyl 25 mcg/hr transdermal patch")
    assert patch.route == "transdermal" and patch.extended_release
    assert index.describe([], "oxycodone ER 10 mg").extended_release
    assert index.describe([], "oxycodone").route is None
    known = index.describe([(RXNORM, "828320")], "whatever")
    assert known.product is not None and known.route == "oral"


@pytest.mark.parametrize(
    ("name", "ingredients", "strengths", "route", "er"),
    [
        ("Diclofenac Sodium 10 MG/ML Topical Solution", ("3355",), (None,), "topical", False),
        ("Diclofenac Epolamine 0.013 MG/MG Medicated Patch [Flector]", ("3355",), (None,), "topical", False),
        ("24 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet", ("7804",), (10.0,), "oral", True),
        ("Fentanyl 0.012 MG/HR Transdermal System", ("4337",), (None,), "transdermal", True),
        ("Morphine Sulfate 4 MG/ML Injectable Solution", ("7052",), (None,), "injectable", False),
        ("0.5 ML Diazepam 5 MG/ML Rectal Gel [Diastat]", ("3322",), (None,), "other", False),
        ("Methadone Hydrochloride 10 MG Oral Tablet", ("6813",), (10.0,), "oral", True),
        ("dihydrocodeine bitartrate 16 MG / Acetaminophen 320 MG Oral Capsule", ("161",), (320.0,), "oral", False),
        ("Acetaminophen / Hydrocodone Pill", ("161", "5489"), (None, None), "oral", False),
        ("{21 (Methylprednisolone 4 MG Oral Tablet) } Pack [Medrol]", ("6902",), (4.0,), "oral", False),
        ("gabapentin enacarbil 600 MG Extended Release Oral Tablet", (), (), "oral", True),
    ],
)
def test_parse_product_name(name: str, ingredients: tuple, strengths: tuple, route: str, er: bool) -> None:
    """Product names yield ingredients in name order, MG strengths, route and the ER/LA flag."""
    parsed = parse_product_name(name)
    assert (parsed.ingredients, parsed.strengths_mg, parsed.route, parsed.extended_release) == (
        ingredients,
        strengths,
        route,
        er,
    )


def test_salt_words_do_not_break_ingredient_matching() -> None:
    """Salts and esters are stripped; distinct ingredients that share a stem are not merged."""
    assert ingredient_code("Diclofenac Sodium") == "3355"
    assert ingredient_code("Hydrocodone Bitartrate") == "5489"
    assert ingredient_code("HYDROCODONE POLISTIREX") == "5489"
    assert ingredient_code("Dexamethasone sodium phosphate") == "3264"
    assert ingredient_code("Fluprednisolone") is None
    assert ingredient_code("Naloxone Hydrochloride") is None
    assert NameMatcher({}).find("anything") == frozenset()


def test_name_table_matches_the_drug_value_sets() -> None:
    """Every ingredient code listed by hand in a drug value set has a name, and every named ingredient is in a
    set; the other RxNorm codes are products (a strength in the display) or imported from a source value set."""
    ingredients, others = set(), []
    for path in (ROOT / "cards" / "valuesets").glob("*.json"):
        for entry in json.loads(path.read_text())["compose"]["include"]:
            if entry["system"] != RXNORM or include_source(entry) is not None:
                continue
            for concept in entry["concept"]:
                if any(ch.isdigit() for ch in concept["display"]):
                    others.append(concept["display"])
                else:
                    ingredients.add(concept["code"])
    assert ingredients == set(INGREDIENTS)
    assert all(" MG" in display.upper() for display in others)


def _derive_module():
    spec = importlib.util.spec_from_file_location("derive_rxnorm_products", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derive_script_writes_only_relevant_products(tmp_path: Path) -> None:
    """The derivation keeps products with a known ingredient and writes a table RxNormIndex loads."""
    source = tmp_path / "source.tsv"
    source.write_text(
        "rxcui\tname\n"
        "828320\tCyclobenzaprine hydrochloride 5 MG Oral Tablet\n"
        "93252\tHydrochlorothiazide 50 MG / Triamterene 75 MG Oral Tablet [Maxzide]\n"
        "900001\tDiclofenac Sodium 10 MG/ML Topical Gel [Voltaren]\n"
        "857002\tAcetaminophen 325 MG / Hydrocodone Bitartrate 5 MG Oral Tablet\n"
    )
    out = tmp_path / "out" / "products.tsv"
    assert _derive_module().main([str(source), str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "rxcui\tname\tingredients\tstrengths_mg\troute\textended_release"
    assert lines[1:] == [
        "828320\tCyclobenzaprine hydrochloride 5 MG Oral Tablet\t21949\t5\toral\t0",
        "857002\tAcetaminophen 325 MG / Hydrocodone Bitartrate 5 MG Oral Tablet\t161|5489\t325|5\toral\t0",
        "900001\tDiclofenac Sodium 10 MG/ML Topical Gel [Voltaren]\t3355\t\ttopical\t0",
    ]
    loaded = RxNormIndex.load(out)
    assert len(loaded) == 3 and loaded.product("900001").route == "topical"  # type: ignore[union-attr]
    assert loaded.ingredients_for([], "Voltaren gel") == {"3355"}


def test_derive_script_rejects_a_source_without_header(tmp_path: Path) -> None:
    """A source file without the rxcui/name header stops the derivation."""
    source = tmp_path / "source.tsv"
    source.write_text("828320\tCyclobenzaprine hydrochloride 5 MG Oral Tablet\n")
    with pytest.raises(SystemExit, match="header"):
        _derive_module().derive(source, tmp_path / "out.tsv")


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("rxcui\tname\n", 1, "header"),
        ("rxcui\tname\tingredients\tstrengths_mg\troute\textended_release\n1\tX\t161\t5\tnasal\t0\n", 2, "route"),
        ("rxcui\tname\tingredients\tstrengths_mg\troute\textended_release\n1\tX\t161|7804\t5\toral\t0\n", 2, "strengths_mg"),
        ("rxcui\tname\tingredients\tstrengths_mg\troute\textended_release\n1\tX\t\t\toral\t0\n", 2, "numeric"),
    ],
)
def test_broken_product_table_names_file_and_line(tmp_path: Path, content: str, line: int, message: str) -> None:
    """A malformed product table raises TerminologyError with the file and the line."""
    path = tmp_path / "products.tsv"
    path.write_text(content)
    with pytest.raises(TerminologyError) as info:
        RxNormIndex.load(path)
    assert info.value.path == path and info.value.line == line and message in info.value.message
