"""Load fixture patients into a FHIR server (the ``load-fixtures`` command).

Each fixture patient's Bundle (dates shifted to today by ``cds_service.fixtures``) is sent as
one transaction of ``PUT Type/id`` entries, so loading twice leaves the same resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

from cds_service.fhir.client import FHIR_JSON
from cds_service.fhir.errors import FhirMalformedResponse, FhirServerError, FhirTimeout, error_for_status
from cds_service.fixtures import FIXTURES_DIR, PATIENTS, bundle_resources, fixture_names, load_patient


def transaction_bundle(resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle that PUTs each resource at ``Type/id``."""
    entries = []
    for resource in resources:
        kind, ident = resource.get("resourceType"), resource.get("id")
        if not isinstance(kind, str) or not isinstance(ident, str) or not ident:
            raise ValueError(f"fixture resource without resourceType and id: {kind!r}")
        entries.append({"resource": resource, "request": {"method": "PUT", "url": f"{kind}/{ident}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def load_fixtures(
    fhir_server_url: str,
    names: Sequence[str] | None = None,
    today: date | None = None,
    token: str | None = None,
    *,
    root: Path = FIXTURES_DIR,
    http: httpx.AsyncClient | None = None,
) -> list[str]:
    """PUT every resource of the named fixture patients (all by default); their references."""
    headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    owned = http is None
    client = http or httpx.AsyncClient(timeout=30.0, follow_redirects=False)
    loaded: list[str] = []
    try:
        for name in names if names is not None else fixture_names(PATIENTS, root):
            bundle = transaction_bundle(bundle_resources(load_patient(name, today, root)))
            await _post(client, fhir_server_url.rstrip("/"), bundle, headers, name)
            loaded.extend(e["request"]["url"] for e in bundle["entry"])
    finally:
        if owned:
            await client.aclose()
    return loaded


async def _post(
    client: httpx.AsyncClient, base: str, bundle: dict[str, Any], headers: dict[str, str], name: str
) -> None:
    try:
        response = await client.post(base, content=orjson.dumps(bundle), headers=headers)
    except httpx.TimeoutException:
        raise FhirTimeout(f"fixture {name}: transaction timed out") from None
    except httpx.HTTPError as error:
        raise FhirServerError(f"fixture {name}: {type(error).__name__}") from None
    if not response.is_success:
        raise error_for_status(response.status_code, f"fixture {name} transaction")
    try:
        reply = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise FhirMalformedResponse(f"fixture {name}: transaction response is not JSON") from None
    if not isinstance(reply, dict) or reply.get("resourceType") != "Bundle":
        raise FhirMalformedResponse(f"fixture {name}: transaction response is not a Bundle")
    for entry in reply.get("entry") or []:
        outcome = entry.get("response") if isinstance(entry, dict) else None
        status = str(outcome.get("status", "")) if isinstance(outcome, dict) else ""
        if not status.startswith("2"):
            raise FhirServerError(f"fixture {name}: an entry failed with status {status or 'unknown'}")
