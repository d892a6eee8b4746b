"""`cds-service export`: the content as a FHIR Bundle of PlanDefinitions and ValueSets, validated resource by resource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cds_service.cli import app as cli
from cds_service.content.export import ENDPOINT_EXT, PROFILE, export_bundle
from cds_service.content.loader import load_content
from cds_service.fhir.parse import model_class
from cds_service.rules.base import REGISTRY
from cds_service.settings import BUNDLED_CONTENT_DIR

BASE = "https://cds.example.org"


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return export_bundle(load_content(BUNDLED_CONTENT_DIR), BASE)


def resources(bundle: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind}


def test_every_resource_validates_with_fhir_resources(bundle: dict[str, Any]) -> None:
    """Each entry, and the Bundle, validates against the FHIR R4B models."""
    for entry in bundle["entry"]:
        model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
        assert entry["fullUrl"] == entry["resource"]["url"]
    model_class("Bundle").model_validate(bundle)


def test_one_plan_definition_per_rule_in_the_cds_hooks_profile(bundle: dict[str, Any]) -> None:
    """Every rule is a PlanDefinition (eca-rule, CDS Hooks service profile, endpoint extension) with its version and review date."""
    plans = resources(bundle, "PlanDefinition")
    assert set(plans) == set(REGISTRY)
    imaging = plans["imaging-without-red-flags"]
    assert imaging["meta"]["profile"] == [PROFILE] and imaging["type"]["coding"][0]["code"] == "eca-rule"
    assert imaging["extension"] == [{"url": ENDPOINT_EXT, "valueUri": f"{BASE}/cds-services/neck-pain-order-select"}]
    assert (imaging["version"], imaging["status"], imaging["lastReviewDate"]) == ("1.1.0", "active", "2026-12-04")
    assert imaging["relatedArtifact"][0]["display"].startswith("ACR Appropriateness Criteria")


def test_actions_describe_conditions_reference_value_sets_and_carry_the_card_text(bundle: dict[str, Any]) -> None:
    """Each action has a hook trigger, its condition described, its value sets referenced and the card text as descriptions."""
    imaging = resources(bundle, "PlanDefinition")["imaging-without-red-flags"]
    valuesets = {vs["url"] for vs in resources(bundle, "ValueSet").values()}
    assert {a["trigger"][0]["name"] for a in imaging["action"]} == {"order-select", "order-sign"}
    for action in imaging["action"]:
        assert "red flag" in action["condition"][0]["expression"]["description"]
        referenced = {f["valueSet"].split("|")[0] for r in action["input"] for f in r["codeFilter"]}
        assert referenced and referenced <= valuesets
        assert action["title"].startswith("No red flags") and "radiographs, CT and MRI" in action["description"]
        assert {a["title"] for a in action["action"]} == {"early-pain", "no-pt"}


def test_value_sets_are_referenced_by_canonical_and_version(bundle: dict[str, Any]) -> None:
    """Every code filter names a bundled ValueSet as url|version, and every resource's url is under the canonical base."""
    valuesets = {f"{vs['url']}|{vs['version']}" for vs in resources(bundle, "ValueSet").values()}
    referenced = {
        f["valueSet"]
        for plan in resources(bundle, "PlanDefinition").values()
        for action in plan["action"]
        for r in action.get("input", [])
        for f in r["codeFilter"]
    }
    assert referenced and referenced <= valuesets and all("|" in ref for ref in referenced)
    for resource in (e["resource"] for e in bundle["entry"]):
        assert resource["url"] == f"http://cds-service.local/fhir/{resource['resourceType']}/{resource['id']}"


def test_cli_writes_the_bundle(tmp_path: Path) -> None:
    """`cds-service export --out FILE` writes a Bundle of every rule and value set."""
    target = tmp_path / "content.json"
    result = CliRunner().invoke(cli, ["export", "--out", str(target), "--base-url", BASE])
    assert result.exit_code == 0, result.output
    written = json.loads(target.read_text())
    assert written["resourceType"] == "Bundle" and written["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in written["entry"]]
    assert kinds.count("PlanDefinition") == len(REGISTRY) and kinds.count("ValueSet") == len(list((BUNDLED_CONTENT_DIR / "valuesets").glob("*.json")))
