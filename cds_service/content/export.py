"""The content as FHIR R4: one PlanDefinition per rule and the ValueSets, in one Bundle.

Each PlanDefinition follows the CDS Hooks Service PlanDefinition profile (FHIR R4): type
``eca-rule``, the service endpoint in the ``cqf-cdsHooksEndpoint`` extension, one action per hook
the rule answers (``named-event`` trigger), its condition described in words (the rule's own
description: the logic is code, not CQL), its value sets referenced by canonical ``url|version`` as
``dataRequirement`` code filters, the card's summary as the action title and each reason's text and
indicator as nested actions' descriptions. Its url is ``<canonical base>/PlanDefinition/<rule>``
(``cards/_content.yaml``); version and status come from the card file's governance fields, the
citations from its source and links. The ValueSets are the bundled files as they are.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from cds_service.content.loader import ContentSet
from cds_service.protocol.services import SERVICES
from cds_service.rules.base import REGISTRY

PROFILE = "http://hl7.org/fhir/StructureDefinition/cdshooksserviceplandefinition"
ENDPOINT_EXT = "http://hl7.org/fhir/StructureDefinition/cqf-cdsHooksEndpoint"
PLAN_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/plan-definition-type", "code": "eca-rule", "display": "ECA Rule"}
PRIORITY = {"info": "routine", "warning": "urgent", "critical": "stat"}


def _description(rule_id: str) -> str:
    doc = REGISTRY[rule_id].fn.__doc__ or rule_id
    return " ".join(doc.split())


def plan_definition(content: ContentSet, rule_id: str, base_url: str) -> dict[str, Any]:
    """The PlanDefinition of one rule."""
    card = content.rules[rule_id].content
    spec = REGISTRY[rule_id]
    status = card.status if card.mode != "off" or card.status == "retired" else "draft"
    citations = [{"type": "citation", "display": card.source.label, **({"url": card.source.url} if card.source.url else {})}]
    citations += [{"type": "documentation", "display": link.label, "url": link.url} for link in card.links]
    requirements = [
        {"type": "Resource", "codeFilter": [{"valueSet": content.terminology.valueset(vs_id).canonical}]} for vs_id in spec.valuesets
    ]
    reasons = [
        {"title": key, "description": reason.text, "priority": PRIORITY[reason.indicator]} for key, reason in card.reasons.items()
    ]
    actions = []
    for service in SERVICES:
        action: dict[str, Any] = {
            "title": card.summary,
            "description": card.detail,
            "trigger": [{"type": "named-event", "name": service.hook}],
            "condition": [{"kind": "applicability", "expression": {"language": "text/plain", "description": _description(rule_id), "expression": rule_id}}],
            "action": reasons,
        }
        if requirements:
            action["input"] = requirements
        actions.append(action)
    resource: dict[str, Any] = {
        "resourceType": "PlanDefinition",
        "id": rule_id,
        "meta": {"profile": [PROFILE]},
        "extension": [{"url": ENDPOINT_EXT, "valueUri": f"{base_url}/cds-services/{SERVICES[0].id}"}],
        "url": content.canonical_base.plan_definition(rule_id),
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "title": card.title,
        "type": {"coding": [PLAN_TYPE]},
        "status": status,
        "description": _description(rule_id),
        "relatedArtifact": citations,
        "action": actions,
    }
    if card.version:
        resource["version"] = card.version
    if card.review is not None:
        resource["lastReviewDate"] = card.review.date.isoformat()
    if card.rationale:
        resource["purpose"] = card.rationale
    return resource


def export_bundle(content: ContentSet, base_url: str) -> dict[str, Any]:
    """The Bundle (type collection) of every rule's PlanDefinition and every bundled ValueSet."""
    entries = [plan_definition(content, rule_id, base_url) for rule_id in sorted(content.rules)]
    for path in sorted((content.directory / "valuesets").glob("*.json")):
        entries.append(json.loads(path.read_text(encoding="utf-8")))
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": resource["url"], "resource": resource} for resource in entries],
    }


def validate(bundle: dict[str, Any]) -> None:
    """Validate each entry with fhir.resources (R4B), then the Bundle; raises on the first invalid one."""
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    get_fhir_model_class("Bundle").model_validate(bundle)
