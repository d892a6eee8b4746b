"""Value set loading, validation and membership (cds_service.terminology.valuesets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.terminology import (
    CPT,
    ICD10CM,
    ICD10PCS,
    LOINC,
    RXNORM,
    SNOMED,
    TerminologyError,
    load_valuesets,
)
from cds_service.terminology.canonical import CanonicalBase
from cds_service.terminology.icd10 import icd10cm_exists
from cds_service.terminology.provenance import include_source, read_sources
from cds_service.terminology.valuesets import CompiledValueSet

VALUESETS_DIR = Path(__file__).resolve().parents[2] / "cards" / "valuesets"
VERIFICATION = "http://cds-service.local/fhir/CodeSystem/verification"

CONTRACT_IDS = """
neck-upper-back-pain cervical-radiculopathy cervical-myelopathy spinal-instability arthrodesis-status
osteoporosis malignancy spinal-infection staph-aureus-bacteremia iv-drug-use immunosuppression
unexplained-weight-loss significant-trauma fever-condition falls ckd-stage-4-5 heart-failure peptic-ulcer
anticoagulant-use antiplatelet-use long-term-opioid-use long-term-steroid-use neuropathic-pain
cervical-fusion lumbar-fusion thoracic-fusion
imaging-xr-cervical-spine imaging-xr-thoracic-spine imaging-ct-cervical-spine imaging-ct-thoracic-spine
imaging-mri-cervical-spine imaging-mri-thoracic-spine imaging-mri-spine-without-contrast
epidural-steroid-injection esi-without-image-guidance facet-injection radiofrequency-ablation
trigger-point-injection spinal-manipulation physical-therapy spine-surgery cervical-spine-surgery
egfr body-temperature blood-culture esr crp
muscle-relaxants-beers baclofen tizanidine systemic-corticosteroids opioids nsaids aspirin acetaminophen
gabapentinoids duloxetine benzodiazepines anticoagulants antiplatelets cns-active cyclobenzaprine carisoprodol
thoracic-region
""".split()


@pytest.fixture(scope="module")
def valuesets() -> dict[str, CompiledValueSet]:
    return load_valuesets(VALUESETS_DIR)


def _raw_sets() -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in sorted(VALUESETS_DIR.glob("*.json"))]


def test_bundled_valuesets_load_with_every_contract_id(valuesets: dict[str, CompiledValueSet]) -> None:
    """The bundled value sets load and include every id the rules and facts rely on."""
    assert set(CONTRACT_IDS) <= set(valuesets)
    assert all(vs.url == f"http://cds-service.local/fhir/ValueSet/{vs.id}" and vs.title for vs in valuesets.values())
    assert all(vs.canonical == f"{vs.url}|{vs.version}" and vs.version.count(".") == 2 for vs in valuesets.values())


def test_is_a_parent_matches_descendants_and_dotless_codes(valuesets: dict[str, CompiledValueSet]) -> None:
    """An is-a filter on Z85 matches Z85.3, and ICD codes match with or without dots and in any case."""
    malignancy = valuesets["malignancy"]
    assert malignancy.contains(ICD10CM, "Z85.3")
    assert malignancy.contains(ICD10CM, "Z853")
    assert malignancy.contains(ICD10CM, "z85.46")
    assert valuesets["neck-upper-back-pain"].contains(ICD10CM, "M542")
    assert valuesets["cervical-radiculopathy"].contains(ICD10CM, "M50.122")
    assert not malignancy.contains(ICD10CM, "Z86.3")


def test_compose_exclude_removes_codes_from_an_is_a_filter(valuesets: dict[str, CompiledValueSet]) -> None:
    """Z85.828 (history of non-melanoma skin cancer) is excluded from malignancy; C44 is never included."""
    malignancy = valuesets["malignancy"]
    assert not malignancy.contains(ICD10CM, "Z85.828")
    assert malignancy.contains(ICD10CM, "Z85.820")
    assert not malignancy.contains(ICD10CM, "C44.91")
    assert malignancy.contains(ICD10CM, "C50.911")


def test_known_look_alike_codes_are_not_members(valuesets: dict[str, CompiledValueSet]) -> None:
    """Lumbar radiculopathy is not cervical radiculopathy; Z98.890 and M43.2 are not arthrodesis status."""
    assert not valuesets["cervical-radiculopathy"].contains(SNOMED, "128196005")
    arthrodesis = valuesets["arthrodesis-status"]
    assert arthrodesis.contains(ICD10CM, "Z98.1")
    assert not arthrodesis.contains(ICD10CM, "Z98.890")
    assert not arthrodesis.contains(ICD10CM, "M43.2")
    assert not arthrodesis.contains(ICD10CM, "M43.22")


def test_scope_set_excludes_lumbar_only_codes(valuesets: dict[str, CompiledValueSet]) -> None:
    """neck-upper-back-pain holds cervical/thoracic codes but no lumbar-only ones."""
    scope = valuesets["neck-upper-back-pain"]
    for code in ("M54.2", "M54.6", "M62.830", "S16.1XXA", "S16.1XXD", "M50.122", "M96.0", "T84.216A", "M48.02"):
        assert scope.contains(ICD10CM, code), code
    for code in ("M54.50", "M48.061", "M48.062", "M54.16", "M51.26"):
        assert not scope.contains(ICD10CM, code), code
    assert not scope.contains(SNOMED, "18347007")


def test_thoracic_region_codes_are_in_scope(valuesets: dict[str, CompiledValueSet]) -> None:
    """Every code and is-a root of thoracic-region (the pain region) is an in-scope code; cervical ones are not in it."""
    scope, thoracic = valuesets["neck-upper-back-pain"], valuesets["thoracic-region"]
    members = [*thoracic.codes(), *thoracic.is_a_roots()]
    assert len(members) == 21 and all(scope.contains(system, code) for system, code in members)
    assert thoracic.contains(ICD10CM, "S22.010A") and not thoracic.contains(ICD10CM, "M54.2")
    assert not thoracic.contains(ICD10CM, "M54.13") and not thoracic.contains(SNOMED, "81680005")


def test_pcs_is_a_prefixes_and_region_specific_fusion_sets(valuesets: dict[str, CompiledValueSet]) -> None:
    """ICD-10-PCS 0RG10A0 is a cervical fusion, 0SG00AJ a lumbar one, and neither crosses over."""
    cervical, lumbar = valuesets["cervical-fusion"], valuesets["lumbar-fusion"]
    assert cervical.contains(ICD10PCS, "0RG10A0")
    assert lumbar.contains(ICD10PCS, "0SG00AJ")
    assert not cervical.contains(ICD10PCS, "0SG00AJ")
    assert not lumbar.contains(ICD10PCS, "0RG10A0")
    assert cervical.contains(CPT, "22551") and lumbar.contains(CPT, "22633") and lumbar.contains(CPT, "22634")
    assert not cervical.contains(CPT, "22633")
    assert valuesets["spine-surgery"].contains(CPT, "63650")


def test_system_aliases_and_missing_values(valuesets: dict[str, CompiledValueSet]) -> None:
    """OID and trailing-slash system aliases match; missing systems or codes never do."""
    scope = valuesets["neck-upper-back-pain"]
    assert scope.contains("urn:oid:2.16.840.1.113883.6.90", "M54.2")
    assert scope.contains(SNOMED + "/", "81680005")
    assert not scope.contains(None, "M54.2")
    assert not scope.contains(ICD10CM, None)
    assert not scope.contains(SNOMED, "M54.2")
    assert scope.matches_any([(None, None), ("http://example.org", "M54.2"), (ICD10CM, "M54.2")])
    assert not scope.matches_any([])


def test_codes_lists_explicit_members_for_queries(valuesets: dict[str, CompiledValueSet]) -> None:
    """codes() yields the listed codes as written; is-a roots are listed separately."""
    egfr = set(valuesets["egfr"].codes())
    assert {(LOINC, c) for c in ("62238-1", "98979-8", "33914-3", "48642-3", "48643-1")} <= egfr
    assert valuesets["egfr"].systems == frozenset({LOINC})
    assert (ICD10CM, "Z85") in set(valuesets["malignancy"].is_a_roots())
    assert (ICD10CM, "Z85") not in set(valuesets["malignancy"].codes())


def test_mri_without_contrast_holds_only_non_contrast_codes(valuesets: dict[str, CompiledValueSet]) -> None:
    """imaging-mri-spine-without-contrast has 72141/72146 and no with-contrast MRI code."""
    wo = valuesets["imaging-mri-spine-without-contrast"]
    assert wo.contains(CPT, "72141") and wo.contains(CPT, "72146")
    for code in ("72142", "72156", "72147", "72157"):
        assert not wo.contains(CPT, code)
    assert valuesets["esi-without-image-guidance"].contains(CPT, "62320")
    assert not valuesets["esi-without-image-guidance"].contains(CPT, "62321")


def test_cns_active_is_the_union_of_its_parts(valuesets: dict[str, CompiledValueSet]) -> None:
    """cns-active equals the union of opioids, benzodiazepines, gabapentinoids, duloxetine and relaxants."""
    parts = ("opioids", "benzodiazepines", "gabapentinoids", "duloxetine", "muscle-relaxants-beers", "baclofen", "tizanidine")
    union = {code for vid in parts for code in valuesets[vid].codes()}
    assert set(valuesets["cns-active"].codes()) == union
    assert not valuesets["nsaids"].contains(RXNORM, "1191")


def test_every_bundled_icd10cm_code_exists() -> None:
    """Every ICD-10-CM code and is-a parent in the bundled sets exists in ICD-10-CM."""
    missing = []
    for path, data in _raw_sets():
        for part in ("include", "exclude"):
            for entry in data["compose"].get(part, []):
                if entry["system"] != ICD10CM:
                    continue
                values = [c["code"] for c in entry.get("concept", [])] + [f["value"] for f in entry.get("filter", [])]
                missing += [f"{path.name}: {value}" for value in values if not icd10cm_exists(value)]
    assert missing == []


def test_every_bundled_code_keeps_its_verification_mark() -> None:
    """Every hand-added concept has a v/s/u verification designation and every filter a verification extension;
    every other include names a source value set the file declares with its url, version and counts."""
    unmarked = []
    for path, data in _raw_sets():
        declared = {source.canonical for _, source in read_sources(data) if not isinstance(source, str)}
        for part in ("include", "exclude"):
            for entry in data["compose"].get(part, []):
                if include_source(entry) is not None:
                    if include_source(entry) not in declared or not entry.get("concept"):
                        unmarked.append(f"{path.name}: include from {include_source(entry)}")
                    continue
                for concept in entry.get("concept", []):
                    marks = [d["use"]["code"] for d in concept.get("designation", []) if d["use"]["system"] == VERIFICATION]
                    if len(marks) != 1 or marks[0] not in {"v", "s", "u"} or not concept.get("display"):
                        unmarked.append(f"{path.name}: {concept['code']}")
                for flt in entry.get("filter", []):
                    marks = [e["valueCoding"]["code"] for e in flt.get("extension", [])]
                    if len(marks) != 1 or marks[0] not in {"v", "s", "u"}:
                        unmarked.append(f"{path.name}: {flt['value']}")
    assert unmarked == []


# --- broken files --------------------------------------------------------------------------------

GOOD = {
    "resourceType": "ValueSet",
    "id": "demo",
    "url": "http://cds-service.local/fhir/ValueSet/demo",
    "version": "1.0.0",
    "name": "Demo",
    "title": "Demo",
    "status": "active",
    "compose": {
        "include": [
            {"system": ICD10CM, "concept": [{"code": "M54.2", "display": "Cervicalgia"}]},
            {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "Z85"}]},
        ]
    },
}


def _write(tmp_path: Path, data: dict | str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def _line_containing(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_a_minimal_valid_file_loads(tmp_path: Path) -> None:
    """A small hand-written value set loads and compiles both concepts and filters."""
    _write(tmp_path, GOOD)
    demo = load_valuesets(tmp_path)["demo"]
    assert demo.contains(ICD10CM, "M54.2") and demo.contains(ICD10CM, "Z85.3")


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    """A JSON syntax error raises TerminologyError with the file and the line of the error."""
    path = _write(tmp_path, '{\n  "resourceType": "ValueSet",\n  "id": "demo",\n  "status": ,\n}\n')
    with pytest.raises(TerminologyError) as info:
        load_valuesets(tmp_path)
    assert info.value.path == path and info.value.line == 4
    assert str(info.value).startswith(f"{path}:4:")


def test_wrong_id_names_the_id_line(tmp_path: Path) -> None:
    """An id that differs from the file stem is reported at the id's line."""
    path = _write(tmp_path, {**GOOD, "id": "other"})
    with pytest.raises(TerminologyError) as info:
        load_valuesets(tmp_path)
    assert info.value.path == path
    assert info.value.line == _line_containing(path, '"id": "other"')
    assert "file name" in info.value.message


def test_unknown_filter_op_names_the_op_line(tmp_path: Path) -> None:
    """A filter op other than is-a is reported at the op's line."""
    data = json.loads(json.dumps(GOOD))
    data["compose"]["include"][1]["filter"][0]["op"] = "descendent-of"
    path = _write(tmp_path, data)
    with pytest.raises(TerminologyError) as info:
        load_valuesets(tmp_path)
    assert info.value.line == _line_containing(path, '"op": "descendent-of"')
    assert "unknown filter op" in info.value.message


@pytest.mark.parametrize(
    ("mutate", "needle", "message"),
    [
        (lambda d: d["compose"]["include"][0].update(system="http://example.org/codes"), '"http://example.org/codes"', "unknown or missing code system"),
        (lambda d: d["compose"]["include"][0]["concept"][0].update(bogus=1), '"bogus"', "invalid ValueSet"),
        (lambda d: d["compose"]["include"][1].update(system=SNOMED), '"op": "is-a"', "is-a is supported only"),
        (lambda d: d["compose"]["include"][1]["filter"].append(dict(d["compose"]["include"][1]["filter"][0])), '"filter"', "only one filter"),
        (lambda d: d.update(url="http://example.org/demo"), '"url"', "url must be"),
        (lambda d: d.update(status="final"), '"status"', "status must be"),
        (lambda d: d.update(version="1.0"), '"version"', "version must be MAJOR.MINOR.PATCH"),
        (lambda d: d.pop("version"), '"url"', "version must be MAJOR.MINOR.PATCH"),
    ],
)
def test_content_errors_name_the_offending_line(tmp_path: Path, mutate, needle: str, message: str) -> None:
    """Unknown systems, schema errors, unsupported filters, wrong url, status or version point at their line
    (a missing version at the url's, where it belongs)."""
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(TerminologyError) as info:
        load_valuesets(tmp_path)
    assert message in info.value.message
    if needle == '"filter"':
        assert info.value.line > _line_containing(path, '"filter"')
    else:
        assert info.value.line == _line_containing(path, needle)


def test_empty_compose_and_empty_directory_are_rejected(tmp_path: Path) -> None:
    """A value set without includes, or a directory without value sets, raises TerminologyError."""
    path = _write(tmp_path, {**GOOD, "compose": {"include": []}})
    with pytest.raises(TerminologyError, match="at least one include") as info:
        load_valuesets(tmp_path)
    assert info.value.line == _line_containing(path, '"compose"')
    path.unlink()
    with pytest.raises(TerminologyError, match="no value set files"):
        load_valuesets(tmp_path)


def test_url_is_checked_against_the_canonical_base(tmp_path: Path) -> None:
    """Under another canonical base the default-base url is refused, and the url under that base loads."""
    _write(tmp_path, GOOD)
    other = CanonicalBase("https://example.org/fhir")
    with pytest.raises(TerminologyError, match="url must be 'https://example.org/fhir/ValueSet/demo'"):
        load_valuesets(tmp_path, other)
    _write(tmp_path, {**GOOD, "url": "https://example.org/fhir/ValueSet/demo"})
    assert load_valuesets(tmp_path, other)["demo"].canonical == "https://example.org/fhir/ValueSet/demo|1.0.0"


# --- includes that reference their source value set ---------------------------------------------

SOURCE = "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.526.2.24"
SOURCE_EXT = {"url": "http://cds-service.local/fhir/StructureDefinition/valueset-source", "extension": [
    {"url": "url", "valueUri": SOURCE}, {"url": "version", "valueString": "20190315"},
    {"url": "imported", "valueDate": "2026-12-04"}, {"url": "from", "valueCode": "expansion"},
    {"url": "offered", "valueInteger": 22}, {"url": "codes", "valueInteger": 2}, {"url": "dropped", "valueInteger": 0},
]}  # fmt: skip


def _sourced(include: dict, exclude: list | None = None) -> dict:
    data = {**GOOD, "extension": [SOURCE_EXT], "compose": {"include": [include]}}
    if exclude is not None:
        data["compose"]["exclude"] = exclude
    return data


SOURCED = {"system": ICD10CM, "valueSet": [f"{SOURCE}|20190315"], "concept": [{"code": "I50.1"}, {"code": "I50.9"}]}


def test_an_include_from_a_source_holds_only_its_listed_codes(tmp_path: Path) -> None:
    """An include bound to a source value set by valueSet matches the codes it lists, never the rest of that
    set: I50.22, in VSAC's heart failure set but not listed, is no member."""
    _write(tmp_path, _sourced(SOURCED))
    demo = load_valuesets(tmp_path)["demo"]
    assert demo.contains(ICD10CM, "I50.9") and demo.contains(ICD10CM, "I50.1")
    assert not demo.contains(ICD10CM, "I50.22")
    assert set(demo.codes()) == {(ICD10CM, "I50.1"), (ICD10CM, "I50.9")}


@pytest.mark.parametrize(
    ("data", "needle", "message"),
    [
        (_sourced({**SOURCED, "valueSet": [f"{SOURCE}|20230210"]}), "|20230210", "is not a source the value set declares"),
        (_sourced({**SOURCED, "valueSet": [f"{SOURCE}|20190315", f"{SOURCE}|20230210"]}), '"valueSet"', "exactly one source"),
        (_sourced({"system": ICD10CM, "valueSet": [f"{SOURCE}|20190315"]}), '"valueSet"', "must list its codes"),
        (_sourced({"system": ICD10CM, "valueSet": [f"{SOURCE}|20190315"],
                   "filter": [{"property": "concept", "op": "is-a", "value": "I50"}]}), '"valueSet"', "must list its codes"),
        (_sourced({**SOURCED, "concept": [{"code": "I50.1"}, {"code": "I50.9", "designation": [
            {"use": {"system": VERIFICATION, "code": "v"}, "value": "v: checked against CMS FY2025 ICD-10-CM"}]}]}),
         '"code": "I50.9"', "hand-added code 'I50.9' (mark v) is in an include bound to source"),
        (_sourced(SOURCED, exclude=[{**SOURCED, "concept": [{"code": "I50.1"}]}]), '"exclude"', "exclude by valueSet is not supported"),
    ],
)
def test_source_references_that_disagree_are_rejected_at_their_line(tmp_path: Path, data: dict, needle: str, message: str) -> None:
    """A valueSet naming a version the file does not declare, several or only a valueSet (or a filter), a hand-added
    code in a sourced include, or an exclude by valueSet: rejected at load, with the file and the line."""
    path = _write(tmp_path, data)
    with pytest.raises(TerminologyError) as info:
        load_valuesets(tmp_path)
    assert info.value.path == path and message in info.value.message
    if needle == '"exclude"':
        assert info.value.line > _line_containing(path, needle)
    else:
        assert info.value.line == _line_containing(path, needle)
