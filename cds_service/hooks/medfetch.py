"""The Medications a hook call references, from the request or read from its FHIR server.

A MedicationRequest or MedicationStatement — in the record or among the draft orders — may name its
drug by ``medicationReference`` (facts/medrefs.py). The Medications the request carries (prefetch
Bundles with ``_include=…:medication``, the draft-orders Bundle) are indexed by ``Medication/<id>``;
with a ``fhirServer``, those referenced but not carried are read (``Medication/<id>``, with the
Bearer token) concurrently, within what is left of the prefetch deadline, at most
``MAX_MEDICATION_READS`` of them. A read that fails or does not finish in time leaves its
reference unresolved; logs carry counts and reason codes only, never a reference or an id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from cds_service.facts.medrefs import MedicationIndex, referenced
from cds_service.facts.record import MEDICATION_TYPES
from cds_service.fhir.client import FhirClient, settle
from cds_service.fhir.errors import FhirError
from cds_service.protocol.models import CDSRequest

log = logging.getLogger(__name__)

MAX_MEDICATION_READS = 50


async def resolve_medications(
    resources: Mapping[str, list[dict[str, Any]]],
    draft_entries: Iterable[Any],
    request: CDSRequest,
    client: FhirClient | None,
    seconds: float,
) -> MedicationIndex:
    """The Medications ``resources`` and the draft orders carry, and those they reference that
    could be read from the request's FHIR server in ``seconds``."""
    drafts = [e.get("resource") for e in draft_entries if isinstance(e, dict)]
    sources: tuple[Iterable[Any], ...] = (*resources.values(), drafts)
    index = MedicationIndex(*sources)
    base = request.fhir_server
    token = request.fhir_authorization.access_token if request.fhir_authorization is not None else None
    if client is None or base is None or not token:  # CDS Hooks: query only with both fhirServer and a token
        return index
    wanted: dict[str, None] = {}
    for items in sources:
        for raw in items:
            if type(raw) is dict and raw.get("resourceType") in MEDICATION_TYPES and (ref := referenced(raw)) is not None:
                wanted[ref] = None
    missing = [ref for ref in wanted if index.get(ref) is None]
    if not missing:
        return index
    reads, skipped = missing[:MAX_MEDICATION_READS], len(missing) - MAX_MEDICATION_READS
    tasks = [asyncio.create_task(client.read(base, ref, token)) for ref in reads]
    await settle(tasks, seconds)
    fetched: dict[str, dict[str, Any]] = {}
    failed: Counter[str] = Counter()
    for ref, task in zip(reads, tasks, strict=True):
        error = None if task.cancelled() else task.exception()
        if task.cancelled():
            failed["timeout"] += 1
        elif error is not None:
            failed[error.code if isinstance(error, FhirError) else "error"] += 1
        else:
            fetched[ref] = task.result()
    if skipped > 0:
        failed["too-many"] += skipped
    index.add(fetched)
    if failed:
        log.info("medication reads failed", extra={"medication_reads": len(reads), "failed": dict(failed)})
    return index
