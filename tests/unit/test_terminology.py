"""The Terminology bundle: loading and drug value-set membership (cds_service.terminology)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds_service.terminology import RXNORM, SNOMED, Terminology, TerminologyError, load_terminology

CARDS = Path(__file__).resolve().parents[2] / "cards"


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    return load_terminology(CARDS)


def test_load_terminology_reads_valuesets_and_products(terminology: Terminology) -> None:
    """load_terminology loads the value sets under content_dir/valuesets and the bundled products."""
    assert "opioids" in terminology.valuesets
    assert terminology.rxnorm.product("828320") is not None


@pytest.mark.parametrize(
    ("valueset", "codings", "text"),
    [
        ("muscle-relaxants-beers", [(RXNORM, "828320")], None),
        ("cyclobenzaprine", [(RXNORM, "828348")], None),
        ("muscle-relaxants-beers", [(RXNORM, "197943")], None),
        ("tizanidine", [(RXNORM, "313413")], None),
        ("opioids", [(RXNORM, "1049621")], None),
        ("opioids", [(RXNORM, "857002")], None),
        ("acetaminophen", [(RXNORM, "857002")], None),
        ("cns-active", [(RXNORM, "857002")], None),
        ("muscle-relaxants-beers", [], "cyclobenzaprine 10mg tab"),
        ("opioids", [(RXNORM, "7804")], None),
        ("nsaids", [("urn:oid:2.16.840.1.113883.6.88", "999999999", "Ibuprofen 600 MG Oral Tablet")], None),
    ],
)
def test_drug_in_matches_products_ingredients_and_text(terminology: Terminology, valueset: str, codings, text) -> None:
    """Product codes, ingredient codes and ingredient names all match the drug value sets."""
    assert terminology.drug_in(valueset, codings, text)


@pytest.mark.parametrize(
    ("valueset", "codings", "text"),
    [
        ("muscle-relaxants-beers", [(RXNORM, "313413")], None),
        ("nsaids", [(RXNORM, "1191")], "aspirin 81 mg"),
        ("opioids", [(RXNORM, "828320")], "oxycodone"),
        ("benzodiazepines", [], None),
        ("opioids", [(SNOMED, "1049621")], None),
    ],
)
def test_drug_in_rejects_other_drugs(terminology: Terminology, valueset: str, codings, text) -> None:
    """Tizanidine is not a Beers relaxant, aspirin not an NSAID here, and a known code beats the text."""
    assert not terminology.drug_in(valueset, codings, text)


def test_unknown_valueset_id_raises_key_error(terminology: Terminology) -> None:
    """Asking for a value set that does not exist names it in a KeyError."""
    with pytest.raises(KeyError, match="no-such-set"):
        terminology.drug_in("no-such-set", [])


def test_missing_valueset_directory_raises(tmp_path: Path) -> None:
    """A content directory without valuesets/ raises TerminologyError."""
    with pytest.raises(TerminologyError, match="not found"):
        load_terminology(tmp_path)


def test_a_broken_bundled_copy_fails_at_load(tmp_path: Path) -> None:
    """Corrupting one copied value set makes load_terminology fail, naming that file."""
    shutil.copytree(CARDS / "valuesets", tmp_path / "valuesets")
    broken = tmp_path / "valuesets" / "opioids.json"
    broken.write_text(broken.read_text().replace('"resourceType": "ValueSet",', '"resourceType": "ValueSet"', 1))
    with pytest.raises(TerminologyError) as info:
        load_terminology(tmp_path)
    assert info.value.path == broken and info.value.line == 3
