"""What an EHR does before a hook call: fill the service's own prefetch templates from a patient's record.

``prefetch_from_templates`` reads the templates the service publishes at ``GET /cds-services`` and
answers each one from a list of the patient's resources the way a FHIR server would: a read for
``Type/{{context.patientId}}``, a search for ``Type?param=value&…`` (``patient``/``subject``,
token parameters such as ``code`` and ``status``, ``_include`` of referenced Medications). A
template parameter it does not know is an error, never silently ignored.
"""

from __future__ import annotations

from typing import Any

PATIENT_ID = "{{context.patientId}}"
# Token search parameters → the element they search, per FHIR R4.
TOKEN_ELEMENTS = {
    "code": ("code", "medicationCodeableConcept"),
    "status": ("status",),
    "clinical-status": ("clinicalStatus",),
    "verification-status": ("verificationStatus",),
    "category": ("category",),
    "intent": ("intent",),
}
IGNORED = {"_count", "_sort", "_summary", "_total"}


def reference_to(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _tokens(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of an element: a code string, a Coding, a CodeableConcept, or a list of them."""
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, list):
        return [t for item in value for t in _tokens(item)]
    if isinstance(value, dict):
        if isinstance(value.get("coding"), list):
            return _tokens(value["coding"])
        if isinstance(value.get("code"), str):
            return [(value.get("system"), value["code"])]
    return []


def _token_matches(resource: dict[str, Any], elements: tuple[str, ...], wanted: str) -> bool:
    """Whether any of the comma-separated ``system|code`` (or bare ``code``) values matches one of the elements."""
    found = [t for element in elements for t in _tokens(resource.get(element))]
    for item in wanted.split(","):
        system, _, code = item.rpartition("|") if "|" in item else (None, "", item)
        if any(code == c and (system is None or system == s) for s, c in found):
            return True
    return False


def _subject_is(resource: dict[str, Any], patient_id: str) -> bool:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return reference in (f"Patient/{patient_id}", patient_id)


def _included(matches: list[dict[str, Any]], include: str, by_ref: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The resources an ``_include=Source:element`` brings in: the non-contained targets of that element."""
    source_type, _, element = include.partition(":")
    wanted = {"medication": "medicationReference"}.get(element, element)
    out: dict[str, dict[str, Any]] = {}
    for resource in matches:
        if resource.get("resourceType") != source_type:
            continue
        target = (resource.get(wanted) or {}).get("reference", "")
        if target in by_ref:
            out[target] = by_ref[target]
    return list(out.values())


def search(template: str, patient_id: str, resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The answer to one prefetch template: the Patient for a read, a searchset Bundle for a search."""
    query = template.replace(PATIENT_ID, patient_id)
    path, _, params = query.partition("?")
    if not params:
        resource_type, _, ident = path.partition("/")
        found = [r for r in resources if r.get("resourceType") == resource_type and r.get("id") == ident]
        return found[0] if found else None
    resource_type = path
    matches = [r for r in resources if r.get("resourceType") == resource_type]
    includes: list[str] = []
    for param in params.split("&"):
        name, _, value = param.partition("=")
        name = name.split(":")[0]
        if name in ("patient", "subject"):
            matches = [r for r in matches if _subject_is(r, value.removeprefix("Patient/"))]
        elif name in TOKEN_ELEMENTS:
            matches = [r for r in matches if _token_matches(r, TOKEN_ELEMENTS[name], value)]
        elif name == "_include":
            includes.append(value)
        elif name not in IGNORED:
            raise ValueError(f"prefetch template parameter {name!r} is not supported by the test EHR: {template}")
    by_ref = {reference_to(r): r for r in resources}
    entries = [{"fullUrl": reference_to(r), "resource": r, "search": {"mode": "match"}} for r in matches]
    for include in includes:
        for r in _included(matches, include, by_ref):
            entries.append({"fullUrl": reference_to(r), "resource": r, "search": {"mode": "include"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches)}
    if entries:
        bundle["entry"] = entries
    return bundle


def prefetch_from_templates(templates: dict[str, str], patient_id: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Every prefetch key of a service, answered from the patient's resources."""
    return {key: search(template, patient_id, resources) for key, template in templates.items()}
