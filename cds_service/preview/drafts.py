"""Hook requests for previews: a fixture patient plus draft orders given as codes, files or fixtures.

An order given as a code becomes a draft ServiceRequest (CPT, SNOMED CT, LOINC, ICD-10-PCS) or
MedicationRequest (RxNorm). ``system|code`` names the system (a URL, or cpt, rxnorm, snomed,
loinc, icd10pcs); a bare code is looked up in the value sets and the RxNorm product table, else
5 characters like ``72141`` are CPT and other digits RxNorm.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from functools import lru_cache
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from cds_service.content.loader import ContentSet
from cds_service.facts.orders import ORDER_TYPES
from cds_service.fixtures import FIXTURES_DIR, PATIENTS, REQUESTS, bundle_resources, fixture_names, load_patient, load_request, prefetch_for
from cds_service.terminology import CPT, ICD10PCS, LOINC, RXNORM, SNOMED
from cds_service.terminology.systems import canonical_system

ALIASES = {"cpt": CPT, "rxnorm": RXNORM, "snomed": SNOMED, "sct": SNOMED, "loinc": LOINC, "icd10pcs": ICD10PCS}
ORDER_SYSTEMS = (CPT, RXNORM, SNOMED, LOINC, ICD10PCS)
HOOKS = ("order-select", "order-sign")
_CPT_LIKE = re.compile(r"^[0-9]{4}[0-9FTU]$")
_CODE = re.compile(r"^[A-Za-z0-9.\-]{1,32}$")


class OrderError(ValueError):
    """An order that cannot be turned into a draft resource (the message says why)."""


@lru_cache(maxsize=8)
def _displays(valueset_dir: Path, version: str) -> dict[tuple[str, str], str]:
    """(system, code) → display, from the value set files of one content version."""
    out: dict[tuple[str, str], str] = {}
    for path in sorted(valueset_dir.glob("*.json")):
        data = orjson.loads(path.read_bytes())
        for entry in (data.get("compose") or {}).get("include") or []:
            for concept in entry.get("concept") or []:
                if concept.get("code") and concept.get("display"):
                    out.setdefault((entry.get("system"), concept["code"]), concept["display"])
    return out


def _systems_listing(content: ContentSet, code: str) -> set[str]:
    found = {s for vs in content.terminology.valuesets.values() for s, c in vs.codes() if c == code and s in ORDER_SYSTEMS}
    if content.terminology.rxnorm.product(code) is not None or content.terminology.rxnorm.is_ingredient(code):
        found.add(RXNORM)
    return found


def parse_code(spec: str, content: ContentSet) -> tuple[str, str]:
    """``(system, code)`` for ``spec`` (``72141``, ``828320``, ``cpt|72141``, ``http://snomed.info/sct|91251008``)."""
    spec = spec.strip()
    if "|" in spec:
        system, code = (part.strip() for part in spec.rsplit("|", 1))
        system = ALIASES.get(system.lower(), canonical_system(system))
        if system not in ORDER_SYSTEMS:
            raise OrderError(f"{spec!r}: orders are coded in CPT, RxNorm, SNOMED CT, LOINC or ICD-10-PCS")
    else:
        code, system = spec, ""
    if not _CODE.match(code):
        raise OrderError(f"{spec!r} is not a code")
    if system:
        return system, code
    listed = _systems_listing(content, code)
    if len(listed) == 1:
        return listed.pop(), code
    if len(listed) > 1:
        raise OrderError(f"{spec!r} is a code in several systems: write system|code (e.g. cpt|{code})")
    if _CPT_LIKE.match(code):
        return CPT, code
    if code.isdigit():
        return RXNORM, code
    raise OrderError(f"cannot tell the system of {spec!r}: write system|code")


def order_from_code(spec: str, content: ContentSet, order_id: str, patient_id: str) -> dict[str, Any]:
    """A draft ServiceRequest or MedicationRequest for the code ``spec``."""
    system, code = parse_code(spec, content)
    display = _display(content, system, code)
    coding = {"system": system, "code": code, "display": display}
    concept = {"coding": [coding], "text": display}
    resource: dict[str, Any] = {"id": order_id, "status": "draft", "intent": "order", "subject": {"reference": f"Patient/{patient_id}"}}
    if system == RXNORM:
        return {"resourceType": "MedicationRequest", **resource, "medicationCodeableConcept": concept}
    return {"resourceType": "ServiceRequest", **resource, "code": concept}


def _display(content: ContentSet, system: str, code: str) -> str:
    if system == RXNORM and (product := content.terminology.rxnorm.product(code)) is not None:
        return product.name
    listed = _displays(content.directory / "valuesets", content.version).get((system, code))
    return listed or f"{system.rsplit('/', 1)[-1].upper()} {code}"


def orders_in(document: Any) -> list[dict[str, Any]]:
    """The draft orders in a hook request (``context.draftOrders``), a Bundle, or a single order resource."""
    if not isinstance(document, dict):
        raise OrderError("an order file holds a JSON object")
    if isinstance(document.get("context"), dict):
        document = document["context"].get("draftOrders") or {}
    if document.get("resourceType") == "Bundle":
        found = [r for r in bundle_resources(document) if r.get("resourceType") in ORDER_TYPES]
    elif document.get("resourceType") in ORDER_TYPES:
        found = [document]
    else:
        raise OrderError("expected a hook request, a Bundle of orders, or one order resource")
    if not found:
        raise OrderError("no draft orders found")
    return found


def read_order_file(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Orders from a JSON file, and the file itself (its ``fixturePatient`` and ``hook`` are defaults)."""
    try:
        document = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise OrderError(f"{path}: {exc}") from None
    return orders_in(document), document


def build_request(
    patient: dict[str, Any], orders: Iterable[dict[str, Any]], hook: str, selected: set[str] | None = None
) -> dict[str, Any]:
    """A CDS Hooks request for a fixture patient's Bundle, with complete prefetch and the draft orders.

    For order-select, ``selected`` are the selected orders' references (default: all of them).
    """
    if hook not in HOOKS:
        raise OrderError(f"hook must be one of {', '.join(HOOKS)}")
    resources = bundle_resources(patient)
    patient_resource = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if patient_resource is None or not patient_resource.get("id"):
        raise OrderError("the fixture has no Patient with an id")
    entries, seen = [], set()
    for order in orders:
        ref = f"{order.get('resourceType')}/{order.get('id')}"
        if ref in seen:
            raise OrderError(f"two draft orders are {ref}")
        seen.add(ref)
        entries.append({"resource": order})
    if not entries:
        raise OrderError("give at least one order")
    context: dict[str, Any] = {
        "userId": "Practitioner/preview",
        "patientId": patient_resource["id"],
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": entries},
    }
    if hook == "order-select":
        context["selections"] = sorted(seen if selected is None else seen & selected) or sorted(seen)
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch_for(resources),
    }


@dataclass(frozen=True)
class Preview:
    """What a preview evaluates: the fixture patient's name and the hook request built for it."""

    patient: str
    request: dict[str, Any]


def assemble(
    content: ContentSet,
    *,
    patient: str | None = None,
    requests: Iterable[str] = (),
    files: Iterable[Path] = (),
    codes: Iterable[str] = (),
    hook: str | None = None,
    root: Path = FIXTURES_DIR,
    today: date | None = None,
) -> Preview:
    """A request for a fixture patient with the orders of fixture requests, order files and codes.

    The patient and hook default to the first fixture request's; the selections of an order-select
    fixture are kept, and orders given as codes are selected too.
    """
    orders: list[dict[str, Any]] = []
    selected: set[str] = set()
    defaults: dict[str, str] = {}
    documents = []
    for name in requests:
        if name not in fixture_names(REQUESTS, root):
            raise OrderError(f"no fixture request named {name!r}")
        documents.append(load_request(name, today, root))
    for path in files:
        documents.append(read_order_file(path)[1])
    for document in documents:
        found = orders_in(document)
        orders.extend(found)
        context: dict[str, Any] = document["context"] if isinstance(document.get("context"), dict) else {}
        listed = context.get("selections") if isinstance(context.get("selections"), list) else None
        selected.update(listed if listed is not None else (f"{o.get('resourceType')}/{o.get('id')}" for o in found))
        for key, field_name in (("patient", "fixturePatient"), ("hook", "hook")):
            if isinstance(document.get(field_name), str):
                defaults.setdefault(key, document[field_name])
    chosen: str | None = patient or defaults.get("patient")
    if not chosen:
        raise OrderError("name a fixture patient")
    if chosen not in fixture_names(PATIENTS, root):
        raise OrderError(f"no fixture patient named {chosen!r}")
    bundle = load_patient(chosen, today, root)
    patient_id = next((r.get("id") for r in bundle_resources(bundle) if r.get("resourceType") == "Patient"), None)
    for i, code in enumerate(codes, start=1):
        order = order_from_code(code, content, f"preview-{i}", str(patient_id))
        orders.append(order)
        selected.add(f"{order['resourceType']}/{order['id']}")
    return Preview(chosen, build_request(bundle, orders, hook or defaults.get("hook") or "order-sign", selected))
