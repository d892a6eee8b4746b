"""Checks of the CDS Hooks response invariants, shared by contract and vignette tests."""

from __future__ import annotations

from typing import Any

from cds_service.fhir.parse import model_class

INDICATORS = {"info", "warning", "critical"}


def assert_no_empty_values(value: Any, path: str = "$") -> None:
    """Optional fields are omitted: no null, "", [] or {} anywhere except an empty cards list."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not (path == "$" and key == "cards"):
                assert item not in (None, "", [], {}), f"empty value at {path}.{key}"
            assert_no_empty_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_no_empty_values(item, f"{path}[{i}]")


def assert_card_invariants(card: dict[str, Any], rule_ids: set[str] | None = None) -> None:
    """One card obeys the spec and the service's traceability rules."""
    assert card["uuid"]
    assert 0 < len(card["summary"]) < 140
    assert card["indicator"] in INDICATORS
    source = card["source"]
    assert source["label"]
    topic = source["topic"]
    assert topic["system"].endswith("/rules") and topic["code"]
    if rule_ids is not None:
        assert topic["code"] in rule_ids
    assert topic["code"] in card["detail"], "detail names the rule id"
    if card["indicator"] != "info":
        assert card.get("overrideReasons"), "warning/critical cards offer override reasons"
    for reason in card.get("overrideReasons", []):
        assert reason["code"] and reason["display"] and reason["system"]
    suggestions = card.get("suggestions", [])
    if suggestions:
        assert card["selectionBehavior"] in {"at-most-one", "any"}  # cds-resp-6
        if card["selectionBehavior"] == "at-most-one":
            assert sum(1 for s in suggestions if s.get("isRecommended")) <= 1  # cds-resp-1
    for suggestion in suggestions:
        assert suggestion["label"] and suggestion["uuid"]
        for action in suggestion["actions"]:
            assert action["description"]  # cds-resp-5
            if action["type"] == "delete":
                assert action["resourceId"] and "resource" not in action  # cds-resp-2
            else:
                resource = action["resource"]
                model_class(resource["resourceType"]).model_validate(resource)  # valid R4
    for link in card.get("links", []):
        assert link["type"] in {"absolute", "smart"}
        assert "appContext" not in link or link["type"] == "smart"  # cds-resp-3


def assert_response_invariants(body: dict[str, Any]) -> None:
    assert isinstance(body["cards"], list)
    assert_no_empty_values(body)
    for card in body["cards"]:
        assert_card_invariants(card)
    uuids = [c["uuid"] for c in body["cards"]]
    assert len(uuids) == len(set(uuids))
