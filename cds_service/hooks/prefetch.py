"""Prefetch resolution: what the client sent, plus fallback queries for what it did not.

Per key of the service's templates (missing keys = expected − supplied):

    supplied Bundle            its entry resources; a ``next`` link is followed on fhirServer
    supplied single resource   [resource], when of the type the template asks for
    supplied ``null``          [] — the client's authoritative "nothing found"; not re-queried
    absent, OperationOutcome   queried on fhirServer (Bearer ``fhirAuthorization.access_token``):
    or not a resource            ``Type?…`` by search, ``Type/id`` by read (404 on a read → []);
                                 only when the request gives both fhirServer and fhirAuthorization

All fallback queries run concurrently on one ``FhirClient`` under one overall deadline; keys not
finished by then are unavailable with reason ``timeout``, finished ones keep their data. Every key
is in ``PrefetchResult.resources`` (read), in ``PrefetchResult.unavailable`` (not read), or in
both: a key is *incomplete* when some of its results were read but not all — a Bundle's ``next``
page could not be read (an error, the page limit, the deadline, no fhirServer) after at least one
page was (a supplied Bundle, or a first search page with entries: reason ``next-page-failed``), or
a Bundle, supplied or fetched, says it is not all the results (``search-error``, ``entry-failed``,
``incomplete``: ``fhir.searchset``): the results read are kept, as positive evidence, while rules
that need the key's absence treat it as unavailable (``PrefetchResult.incomplete``;
``handler.available_data``). A value not understood — a resource or a match of a type the template
does not ask for, a Bundle that is no search result — is not read at all (``wrong-type``), never
taken for "nothing found"; a supplied value that says so is not queried again. The resolution
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

from cds_service.fhir.client import FhirClient, settle
from cds_service.fhir.errors import FhirError, FhirIncompleteSearch, FhirNotFound, FhirWrongType
from cds_service.fhir.searchset import Searchset
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


def _read_supplied(value: Any, found: Searchset) -> bool:
    """Read a supplied value into ``found`` as the search's first page (a single resource: a page of
    one; ``null``: none); False when it is to be queried instead (an OperationOutcome, not a
    resource). Raises as ``Searchset`` does when the value says it is not whole or is not understood."""
    if value is None:
        return True
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return False
    if value["resourceType"] == "OperationOutcome":
        return False
    if value["resourceType"] == "Bundle":
        found.add(value)
    else:
        found.add_resource(value)
    return True


def _not_read(error: BaseException | None, kept: Resources, read: bool) -> tuple[str, Resources]:
    """Why a key was not (wholly) read, and the resources kept of it as positive evidence: none of a
    key not understood, whole pages of a search that says it is not all the results, and the pages
    read before a ``next`` page failed (``read``: a supplied Bundle or a page with entries)."""
    if isinstance(error, FhirWrongType):
        return error.code, []
    if isinstance(error, FhirIncompleteSearch):
        return error.code, kept
    if read:
        return NEXT_PAGE_FAILED, kept
    return (TIMEOUT if error is None else error.code if isinstance(error, FhirError) else "error"), []


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
    work: dict[str, str | Searchset] = {}  # key -> rendered query, or a supplied Bundle to page on
    from_prefetch: list[str] = []

    def not_read(key: str, error: BaseException | None, kept: Resources, read: bool) -> None:
        unavailable[key], kept = _not_read(error, kept, read)
        if kept:
            resources[key] = kept

    for key, template in templates.items():
        if key in supplied:
            found = Searchset(template)
            try:
                if _read_supplied(supplied[key], found):
                    from_prefetch.append(key)
                    if found.next is None:
                        resources[key] = found.finish()
                    else:
                        work[key] = found
                    continue
            except FhirError as problem:  # the value says it is not all the results, or is not understood
                from_prefetch.append(key)
                not_read(key, problem, found.resources, True)
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
            if isinstance(item, str):
                unavailable[key] = NO_FHIR_SERVER
            else:
                not_read(key, None, item.resources, True)
        work = {}

    tasks: dict[str, asyncio.Task[Resources]] = {}
    pages: dict[str, Resources] = {}  # per key, the resources of the pages read so far
    if work:
        assert client is not None and base is not None
        for key, item in work.items():
            if isinstance(item, str):
                pages[key] = []
                coro = _fetch(client, base, item, token, pages[key])
            else:
                pages[key] = item.resources
                coro = client.follow_next(base, item, token)
            tasks[key] = asyncio.create_task(coro)
        await settle(list(tasks.values()), deadline_seconds)

    for key, task in tasks.items():
        error = None if task.cancelled() else task.exception()
        if error is None and not task.cancelled():
            resources[key] = task.result()
            continue
        if error is not None and not isinstance(error, FhirError):  # unavailable data, never a 500
            log.error("prefetch query failed", extra={"prefetch_key": key, "error_type": type(error).__name__})
        not_read(key, error, pages[key], key in from_prefetch or bool(pages[key]))

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
