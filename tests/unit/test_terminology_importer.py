"""Importing VSAC ValueSets (cds_service.terminology.importer and ``cds-service valuesets import``)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cds_service.cli import app
from cds_service.content.lint_codes import check_valueset_file
from cds_service.terminology import ICD10CM, LOINC, SNOMED, load_valuesets
from cds_service.terminology.importer import Selection, SourceError, import_into, read_source, select
from cds_service.terminology.provenance import include_source, read_sources

DATA = Path(__file__).resolve().parents[1] / "data" / "vsac"
BUNDLED = Path(__file__).resolve().parents[2] / "cards" / "valuesets"
TODAY = date(2026, 3, 1)
HF_URL = "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.526.2.25"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    (tmp_path / "valuesets").mkdir()
    shutil.copy(BUNDLED.parent / "_content.yaml", tmp_path / "_content.yaml")  # the canonical base
    return tmp_path


def _write(result: Any) -> dict[str, Any]:
    result.path.write_text(result.text, encoding="utf-8")
    return json.loads(result.text)  # type: ignore[no-any-return]


def _sources(data: dict[str, Any]) -> dict[str, Any]:
    return {s.url: s for _, s in read_sources(data) if not isinstance(s, str)}


def test_expansion_import_writes_a_new_value_set_with_its_source(content: Path) -> None:
    """A complete expansion becomes a new bundled value set whose include names the recorded VSAC source."""
    source = read_source(DATA / "heart-failure-sct.expansion.json")
    assert source.origin == "expansion" and len(source.members) == 6
    data = _write(import_into(content / "valuesets", "hf", [source], TODAY, title="Heart failure"))
    assert data["id"] == "hf" and data["url"] == "http://cds-service.local/fhir/ValueSet/hf"
    recorded = _sources(data)[HF_URL]
    assert (recorded.oid, recorded.version, recorded.imported, recorded.origin) == (
        "urn:oid:2.16.840.1.113883.3.526.2.25", "20230210", "2026-03-01", "expansion",
    )
    assert (recorded.offered, recorded.codes, recorded.dropped) == (6, 6, 0)
    (include,) = data["compose"]["include"]
    assert include["valueSet"] == [f"{HF_URL}|20230210"] and include["system"] == SNOMED and "extension" not in include
    assert data["version"] == "1.0.0"
    assert load_valuesets(content / "valuesets")["hf"].contains(SNOMED, include["concept"][0]["code"])


def test_compose_only_value_set_is_read_from_its_compose() -> None:
    """A ValueSet without an expansion is read from a compose that lists its codes."""
    source = read_source(DATA / "sepsis-icd.compose.json")
    assert source.origin == "compose" and len(source.members) == 6
    assert {m.system for m in source.members} == {ICD10CM}


def test_paged_expansion_uses_the_complete_compose() -> None:
    """An expansion holding 3 of 6336 codes is paged: the complete compose is read instead (with 93761005)."""
    source = read_source(DATA / "cancer-sct.paged.json")
    assert source.origin == "compose" and len(source.members) == 8
    assert "93761005" in {m.code for m in source.members}


def test_paged_expansion_without_a_usable_compose_fails_clearly() -> None:
    """A paged expansion with no code-listing compose is refused, saying it is paged and how many codes it holds."""
    with pytest.raises(SourceError) as info:
        read_source(DATA / "cancer-sct.paged-no-compose.json")
    assert "paged" in info.value.message and "3 of 6336" in info.value.message


def test_unknown_systems_are_dropped_and_counted_and_supersets_are_selected(content: Path) -> None:
    """ICD-9-CM members are dropped and counted; a display selection keeps CKD 4-5 and ESRD, not AKI or stage 3."""
    source = read_source(DATA / "kidney-failure.superset.json")
    assert source.dropped == {"http://terminology.hl7.org/CodeSystem/icd9cm": 3}
    picked = select(source, Selection(select_display=(r"stage 4|stage 5|end.stage",)))
    data = _write(import_into(content / "valuesets", "ckd", [picked], TODAY, title="CKD 4-5"))
    codes = {c["code"] for include in data["compose"]["include"] for c in include["concept"]}
    assert codes == {"N18.4", "N18.5", "N18.6", "431857002", "433146000", "46177005"}
    recorded = next(iter(_sources(data).values()))
    assert (recorded.dropped, recorded.offered, recorded.codes) == (3, 10, 6)
    assert recorded.selection == "display ~ /stage 4|stage 5|end.stage/"


def test_members_without_display_are_selected_by_name() -> None:
    """Cached VSAC members have no display: names from a product table select them, unnamed ones are left out."""
    source = read_source(DATA / "immunosuppressants.cached.json")
    names = {"105586": "Methotrexate 10 MG Oral Tablet", "198377": "Tacrolimus 1 MG Oral Capsule", "312617": "Prednisone 5 MG Oral Tablet"}
    picked = select(source, Selection(select_display=(".",), exclude_display=(r"\bprednisone\b",), names=names))
    assert {m.code for m in picked.members} == {"105586", "198377"}
    assert all(m.display is None for m in picked.members)  # names select, they are not written as displays


def test_merge_keeps_hand_added_codes_and_replaces_an_earlier_import(content: Path) -> None:
    """Merging into heart-failure keeps I50.9, the I50 is-a filter and the other source's include, and a second
    import of the same source replaces the first instead of adding to it."""
    shutil.copy(BUNDLED / "heart-failure.json", content / "valuesets" / "heart-failure.json")
    original = json.loads((content / "valuesets" / "heart-failure.json").read_text())
    kept = [i for i in original["compose"]["include"] if include_source(i) != f"{HF_URL}|20230210"]
    source = read_source(DATA / "heart-failure-sct.expansion.json")
    first = _write(import_into(content / "valuesets", "heart-failure", [source], TODAY))
    again = _write(import_into(content / "valuesets", "heart-failure", [source], date(2026, 4, 1)))
    for data in (first, again):
        assert data["compose"]["include"][: len(kept)] == kept
        (new,) = [i for i in data["compose"]["include"] if include_source(i) == f"{HF_URL}|20230210"]
        assert [c["code"] for c in new["concept"]] == sorted(m.code for m in source.members)
    assert _sources(again)[HF_URL].imported == "2026-04-01"
    assert load_valuesets(content / "valuesets")["heart-failure"].contains(ICD10CM, "I50.9")


def test_codes_already_held_are_not_listed_again(content: Path) -> None:
    """A code the value set (or an earlier source of the same import) already holds is counted, not repeated."""
    source = read_source(DATA / "heart-failure-sct.expansion.json")
    twin = replace(source, url="http://example.org/ValueSet/twin")
    result = import_into(content / "valuesets", "hf", [source, twin], TODAY, title="Heart failure")
    assert [s.codes for s in result.sources] == [6, 0] and result.already == 6
    _write(result)
    assert check_valueset_file(result.path)[0] == []  # no code listed twice


def test_lint_reports_codes_without_provenance_at_their_line(tmp_path: Path) -> None:
    """A concept with neither a source nor a verification mark is a lint error at the concept's line."""
    path = tmp_path / "bare.json"
    data = {"resourceType": "ValueSet", "id": "bare", "url": "http://cds-service.local/fhir/ValueSet/bare", "status": "active",
            "compose": {"include": [{"system": LOINC, "concept": [{"code": "33914-3", "display": "eGFR (MDRD)"}]}]}}
    path.write_text(json.dumps(data, indent=2))
    issues, checked = check_valueset_file(path)
    assert checked == 1 and len(issues) == 1
    assert "no provenance" in issues[0].message and issues[0].severity == "error"
    assert '"33914-3"' in path.read_text().splitlines()[issues[0].line]  # the line after the concept's opening brace


def test_the_version_rises_with_what_an_import_changes(content: Path) -> None:
    """A new set is 1.0.0; the same import again keeps it; added codes raise MINOR, removed codes MAJOR, and the
    same codes from another version of the source PATCH."""
    source = read_source(DATA / "heart-failure-sct.expansion.json")
    directory = content / "valuesets"
    few = select(source, Selection(codes=frozenset(m.code for m in source.members[:2])))

    def version(*sources: Any, title: str | None = None) -> str:
        return str(_write(import_into(directory, "hf", list(sources), TODAY, title=title))["version"])

    assert version(few, title="Heart failure") == "1.0.0"
    assert version(few) == "1.0.0"
    assert version(source) == "1.1.0"
    assert version(few) == "2.0.0"
    assert version(replace(few, version="20250101")) == "2.0.1"
    assert load_valuesets(directory)["hf"].canonical == "http://cds-service.local/fhir/ValueSet/hf|2.0.1"


def test_a_latest_source_is_referenced_without_a_version(content: Path) -> None:
    """A cached expansion whose version is 'Latest' names no version: it is recorded and referenced by its url alone."""
    source = read_source(DATA / "immunosuppressants.cached.json")
    assert source.version is None
    data = _write(import_into(content / "valuesets", "immuno", [source], TODAY, title="Immunosuppressants"))
    assert {tuple(i["valueSet"]) for i in data["compose"]["include"]} == {(source.url,)}
    assert _sources(data)[source.url].version is None
    load_valuesets(content / "valuesets")


def test_cli_imports_into_an_existing_value_set_and_reports_counts(content: Path) -> None:
    """``cds-service valuesets import --into`` merges, prints what each source added and writes the file."""
    shutil.copy(BUNDLED / "heart-failure.json", content / "valuesets" / "heart-failure.json")
    result = CliRunner().invoke(app, [
        "valuesets", "import", str(DATA / "heart-failure-sct.expansion.json"), "--into", "heart-failure",
        "--content-dir", str(content), "--date", "2026-03-01",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{HF_URL}|20230210 (expansion): 6 codes of known systems, 6 selected, 6 added" in result.output
    assert _sources(json.loads((content / "valuesets" / "heart-failure.json").read_text()))[HF_URL].codes == 6


def test_cli_refuses_a_result_with_bad_codes_and_names_file_and_line(content: Path, tmp_path: Path) -> None:
    """A source with a malformed LOINC code is not written over the value set: the result goes to
    ``<id>.json.rejected`` and the problem is reported as file:line, exit status 1."""
    bad = json.loads((DATA / "heart-failure-sct.expansion.json").read_text())
    bad["expansion"]["contains"] = [{"system": LOINC, "code": "33914-4", "display": "eGFR with a wrong check digit"}]
    bad["expansion"]["total"] = 1
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(bad))
    result = CliRunner().invoke(app, [
        "valuesets", "import", str(source), "--id", "egfr-new", "--title", "eGFR", "--content-dir", str(content),
    ])  # fmt: skip
    assert result.exit_code == 1
    rejected = content / "valuesets" / "egfr-new.json.rejected"
    assert not (content / "valuesets" / "egfr-new.json").exists() and rejected.exists()
    line = next(n for n, text in enumerate(rejected.read_text().splitlines(), start=1) if "33914-4" in text)
    assert f"{rejected}:{line}: error: LOINC code '33914-4' has a wrong check digit" in result.output


@pytest.mark.parametrize(
    "options",
    [[], ["--id", "new-set"], ["--into", "../escape"], ["--into", "heart-failure", "--select-display", "("]],
)
def test_cli_rejects_bad_options_before_writing(content: Path, options: list[str]) -> None:
    """Neither --into nor --id, a new id without a title, an id that is no FHIR id, or a bad regular
    expression stop the command with a usage error, and nothing is written."""
    result = CliRunner().invoke(app, ["valuesets", "import", str(DATA / "heart-failure-sct.expansion.json"), *options,
                                      "--content-dir", str(content)])  # fmt: skip
    assert result.exit_code == 2 and list((content / "valuesets").iterdir()) == []


def test_build_script_rebuilds_and_creates_value_sets_from_a_vsac_directory(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``scripts/build_valuesets.py`` drops every earlier import of a set (2.24 is not in its recipe any more),
    keeps hand-added codes, imports the recipe's sources again and creates a missing set with its title."""
    spec = importlib.util.spec_from_file_location("build_valuesets", BUNDLED.parents[1] / "scripts" / "build_valuesets.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # its dataclasses look their module up
    spec.loader.exec_module(script)
    vsac = tmp_path / "vsac"
    vsac.mkdir()
    shutil.copy(DATA / "heart-failure-sct.expansion.json", vsac / "2.16.840.1.113883.3.526.2.25.json")
    shutil.copy(BUNDLED / "heart-failure.json", content / "valuesets" / "heart-failure.json")
    take = script.Take("2.16.840.1.113883.3.526.2.25.json")
    monkeypatch.setattr(script, "RECIPES", (
        script.Recipe("heart-failure", (take,)), script.Recipe("hf-new", (take,), "New heart failure", "From 2.25."),
    ))  # fmt: skip
    assert script.main([str(vsac), "--content-dir", str(content), "--date", "2026-03-01"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "heart-failure: urn:oid:2.16.840.1.113883.3.526.2.25: 6 (0 already held)",
        "hf-new: urn:oid:2.16.840.1.113883.3.526.2.25: 6 (0 already held)",
    ]
    rebuilt = json.loads((content / "valuesets" / "heart-failure.json").read_text())
    assert list(_sources(rebuilt)) == [HF_URL] and _sources(rebuilt)[HF_URL].imported == "2026-03-01"
    assert [include_source(i) for i in rebuilt["compose"]["include"]] == [None, None, f"{HF_URL}|20230210"]
    assert rebuilt["version"] == "2.0.0"  # the 77 earlier SNOMED CT codes and 2.24's codes left
    created = json.loads((content / "valuesets" / "hf-new.json").read_text())
    assert (created["title"], created["description"], created["version"]) == ("New heart failure", "From 2.25.", "1.0.0")
    assert load_valuesets(content / "valuesets").keys() == {"heart-failure", "hf-new"}
