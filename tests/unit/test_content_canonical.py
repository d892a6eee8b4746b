"""The content's canonical base (``cards/_content.yaml``): value set urls, provenance and export all under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.content.export import export_bundle
from cds_service.content.lint_codes import check_valueset_codes
from cds_service.content.loader import CONTENT_FILE, ContentError, load_content
from cds_service.terminology.canonical import DEFAULT_BASE
from tests.unit.content_support import cards, edit  # noqa: F401  (the cards fixture)

OTHER = "https://example.org/fhir"


def problems(directory: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("base", [f"{DEFAULT_BASE}/", "cds-service.local/fhir", f"{DEFAULT_BASE}|1"])
def test_a_malformed_canonical_base_is_rejected_at_its_line(cards: Path, base: str) -> None:
    """A base with a trailing slash, without a scheme or with a version bar is refused at its line in _content.yaml."""
    line = edit(cards / CONTENT_FILE, f"canonical_base: {DEFAULT_BASE}", f"canonical_base: {base}")
    assert any(p.startswith(f"{cards / CONTENT_FILE}:{line}: canonical_base") for p in problems(cards))


def test_the_content_file_is_required(cards: Path) -> None:
    """Content without _content.yaml does not load."""
    (cards / CONTENT_FILE).unlink()
    assert any(p.startswith(f"{cards / CONTENT_FILE}:0: required shared content file") for p in problems(cards))


def test_a_new_base_needs_the_value_sets_rewritten_and_then_governs_every_url(cards: Path) -> None:
    """Changing the base alone is refused at a value set's url line; with the files rewritten to it, the content
    loads, its provenance marks and sources are read under it, and export names every resource under it."""
    edit(cards / CONTENT_FILE, f"canonical_base: {DEFAULT_BASE}", f"canonical_base: {OTHER}")
    first = cards / "valuesets" / "acetaminophen.json"  # the first file read
    line = next(n for n, text in enumerate(first.read_text().splitlines(), 1) if '"url": "http://cds-service.local/fhir/ValueSet/' in text)
    assert any(p.startswith(f"{first}:{line}: url must be '{OTHER}/ValueSet/acetaminophen'") for p in problems(cards))
    for path in (cards / "valuesets").glob("*.json"):
        path.write_text(path.read_text().replace(f"{DEFAULT_BASE}/", f"{OTHER}/"))
    content = load_content(cards)
    assert content.terminology.valueset("heart-failure").url == f"{OTHER}/ValueSet/heart-failure"
    issues, checked = check_valueset_codes(cards)
    assert checked > 10_000 and [i for i in issues if i.severity == "error"] == []
    urls = [e["resource"]["url"] for e in export_bundle(content, "https://cds.example.org")["entry"]]
    assert urls and all(url.startswith(f"{OTHER}/") for url in urls)


def test_a_source_reference_that_disagrees_with_its_declared_source_stops_the_load(cards: Path) -> None:
    """An include whose valueSet names a version of its source that the file does not declare rejects the
    content, at that file and line."""
    heart = cards / "valuesets" / "heart-failure.json"
    reference = "2.16.840.1.113883.3.526.2.25|20230210"
    line = next(n for n, text in enumerate(heart.read_text().splitlines(), 1) if f'"http://cts.nlm.nih.gov/fhir/ValueSet/{reference}"' in text)
    edit(heart, f'"http://cts.nlm.nih.gov/fhir/ValueSet/{reference}"', f'"http://cts.nlm.nih.gov/fhir/ValueSet/{reference[:-1]}1"')
    assert any(p.startswith(f"{heart}:{line}: valueSet ") and "is not a source the value set declares" in p for p in problems(cards))
