"""Prefetch resolution: what the client sent, plus fallback queries for what it did not.

Per key of the service's templates (missing keys = expected − supplied):

    supplied Bundle            its entry resources; a ``next`` link is followed on fhirServer
    supplied single resource   [resource]
    supplied ``null``          [] — the client's authoritative "nothing found"; not re-queried
    absent, OperationOutcome   queried on fhirServer (Bearer ``fhirAuthorization.access_token``):
    or not a resource            ``Type?…`` by search, ``Type/id`` by read (404 on a read → []);
                                 only when the request gives both fhirServer and fhirAuthorization

All fallback queries run concurrently on one ``FhirClient`` under one overall deadline; keys not
finished by then are unavailable with reason ``timeout``, finished ones keep their data. Every key
is in ``PrefetchResult.resources`` (read), in ``PrefetchResult.unavailable`` (not read), or in
both: a key is *incomplete* (reason ``next-page-failed``) when a Bundle's ``next`` page could not
be read (an error, the page limit, the deadline, no fhirServer) after at least one page was (a
supplied Bundle, or a first search page with entries): the pages read are kept, as positive
evidence, while rules that need the key's absence treat it as unavailable
(``PrefetchResult.incomplete``; ``handler.available_data``). The resolution
is logged at DEBUG (the request's access line carries the fetched and unavailable keys); logs name
keys and reason codes only, never ids, resources or tokens.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.fhir.client import FhirClient, entry_resources, next_link, settle
from cds_service.fhir.errors import FhirError, FhirNotFound
from cds_service.protocol.models import CDSRequest

log = logging.getLogger(__name__)

NO_FHIR_SERVER = "no-fhir-server"
TIMEOUT = "timeout"
UNRENDERABLE = "unrenderable"
NEXT_PAGE_FAILED = "next-page-failed"

_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REFERENCE = re.compile(r"^([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}

Resources = list[dict[str, Any]]


@dataclass(frozen=True)
class PrefetchResult:
    """Resources per prefetch key, and the keys that could not be obtained (or not wholly: see
    ``incomplete``) with a reason code."""

    resources: dict[str, Resources]
    unavailable: dict[str, str]
    fetched: tuple[str, ...] = ()  # keys (partly) read from the FHIR server

    @property
    def incomplete(self) -> frozenset[str]:
        """Keys with some pages read but not all: in ``resources`` and in ``unavailable``."""
        return frozenset(k for k in self.unavailable if k in self.resources)


def _token_value(name: str, context: Mapping[str, Any]) -> str | None:
    if name in _USER_TOKENS:
        match = _REFERENCE.match(str(context.get("userId") or ""))
        return match.group(2) if match and match.group(1) == _USER_TOKENS[name] else None
    if not name.startswith("context."):
        return None
    value = context.get(name.removeprefix("context."))
    if isinstance(value, str) and (_ID.match(value) or _REFERENCE.match(value)):
        return value
    return None


def render_template(template: str, request: CDSRequest) -> str | None:
    """The template with its tokens filled from the request; None if a token has no safe value."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = _token_value(match.group(1), request.context)
        if value is None:
            missing = True
            return ""
        return value

    rendered = _TOKEN.sub(fill, template)
    return None if missing else rendered


def _supplied(value: Any) -> tuple[Resources, dict[str, Any] | None] | None:
    """(resources, bundle to page on) for a usable supplied value; None means query it."""
    if value is None:
        return [], None
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return None
    if value["resourceType"] == "OperationOutcome":
        return None
    if value["resourceType"] == "Bundle":
        return entry_resources(value), (value if next_link(value) else None)
    return [value], None


async def _fetch(client: FhirClient, base: str, query: str, token: str | None, pages: Resources) -> Resources:
    """A read or a search; a search adds each page's resources to ``pages`` as it is read."""
    path = query.split("?", 1)[0].strip("/")
    if "?" not in query and _REFERENCE.match(path):
        try:
            return [await client.read(base, query, token)]
        except FhirNotFound:
            return []
    return await client.search(base, query, token, pages)


async def resolve_prefetch(
    templates: Mapping[str, str],
    request: CDSRequest,
    client: FhirClient | None,
    deadline_seconds: float,
) -> PrefetchResult:
    """Every template key resolved from the request's prefetch or by querying its fhirServer."""
    supplied = request.prefetch or {}
    resources: dict[str, Resources] = {}
    unavailable: dict[str, str] = {}
    work: dict[str, Any] = {}  # key -> rendered query (str) or a supplied Bundle to page on
    from_prefetch: list[str] = []

    for key, template in templates.items():
        usable = _supplied(supplied[key]) if key in supplied else None
        if usable is not None:
            resources[key], bundle = usable
            from_prefetch.append(key)
            if bundle is not None:
                work[key] = bundle
            continue
        rendered = render_template(template, request)
        if rendered is None:
            unavailable[key] = UNRENDERABLE
        else:
            work[key] = rendered

    base, token = request.fhir_server, None
    if request.fhir_authorization is not None:
        token = request.fhir_authorization.access_token
    if work and (client is None or base is None or not token):  # CDS Hooks: query only with both
        for key, item in work.items():  # a supplied Bundle keeps its first page; its next page cannot be read
            unavailable[key] = NO_FHIR_SERVER if isinstance(item, str) else NEXT_PAGE_FAILED
        work = {}

    tasks: dict[str, asyncio.Task[Resources]] = {}
    pages: dict[str, Resources] = {}  # per key, the resources of the pages read so far
    if work:
        assert client is not None and base is not None
        for key, item in work.items():
            pages[key] = []
            if isinstance(item, str):
                coro = _fetch(client, base, item, token, pages[key])
            else:
                coro = client.follow_next(base, item, token, pages[key])
            tasks[key] = asyncio.create_task(coro)
        await settle(list(tasks.values()), deadline_seconds)

    for key, task in tasks.items():
        error = None if task.cancelled() else task.exception()
        if error is None and not task.cancelled():
            resources[key] = resources.get(key, []) + task.result()
            continue
        if error is not None and not isinstance(error, FhirError):  # unavailable data, never a 500
            log.error("prefetch query failed", extra={"prefetch_key": key, "error_type": type(error).__name__})
        if key in resources or pages[key]:  # a page was read, a later one was not: keep what was read
            resources[key] = resources.get(key, []) + pages[key]
            unavailable[key] = NEXT_PAGE_FAILED
        else:
            unavailable[key] = TIMEOUT if error is None else error.code if isinstance(error, FhirError) else "error"

    # DEBUG: a call logs one INFO line, the access line, which carries the fetched and unavailable keys.
    fetched = tuple(sorted(k for k in tasks if k in resources))
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "prefetch resolved",
            extra={
                "prefetch_supplied": sorted(from_prefetch),
                "prefetch_fetched": list(fetched),
                "prefetch_unavailable": dict(sorted(unavailable.items())),
            },
        )
    ordered = {key: resources[key] for key in templates if key in resources}
    return PrefetchResult(resources=ordered, unavailable=unavailable, fetched=fetched)
