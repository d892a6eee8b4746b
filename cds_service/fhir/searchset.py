"""Whether the Bundles of one search are all the results of the query that asked for them.

A search answered with HTTP 200 can still say that it is not all the results, or be no answer to
the query. ``Searchset`` reads one search page by page — a prefetch value the CDS client sent, then
any ``next`` pages read from fhirServer — keeping each page's resources, and raises when they are
not all the results (``cds_service.fhir.errors``; the codes are the prefetch reasons):

    code           the Bundle                                                  its resources
    search-error   holds an OperationOutcome (any ``search.mode``) with an     kept as positive
                   ``error`` or ``fatal`` issue: the search did not run fully  evidence: real
    entry-failed   has an entry whose ``response.status`` is not 2xx           results, not all
    incomplete     holds fewer matches than its ``total``, and no next page
    wrong-type     is no search result (a ``batch-response``, ``history`` …    dropped: not
                   Bundle), or holds a match of a type the query does not      understood
                   search for

A match is an entry of ``search.mode`` ``match`` or of none, of the type searched for. An entry whose
``resourceType`` names no FHIR type (``condition``, none) is kept, no match: the record reader counts
it unreadable (``cds_service.facts.unreadable``), so it leaves a red flag possible without losing the
rest of the search. An entry of
a type the query's ``_include``/``_revinclude`` names is an include, marked so or not (some servers
leave the mode out); an entry marked ``include`` of a type the query did not ask for is passed over,
unread: the matches are whole without it. An OperationOutcome whose issues are all ``warning`` or
``information`` leaves the search whole; outcome issues are logged as counts only (their
diagnostics may name the patient).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from cds_service.fhir.errors import FhirEntryFailed, FhirIncompleteSearch, FhirSearchError, FhirWrongType
from cds_service.fhir.parse import model_class, resource_class

log = logging.getLogger(__name__)

SEARCH_BUNDLES = frozenset({"searchset", "collection"})  # Bundle.type of a search result (or none stated)
NOTES = frozenset({"warning", "information"})  # OperationOutcome issue severities that leave a search whole
_INCLUDES = ("_include", "_revinclude")

Resource = dict[str, Any]


def query_type(query: str) -> str:
    """The resource type a query reads or searches: ``Condition?patient=…`` → ``Condition``."""
    return query.lstrip("/").split("?", 1)[0].split("/", 1)[0] or "resource"


def next_link(bundle: Resource) -> str | None:
    """The URL of a Bundle's ``link[relation=next]``, if any."""
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


@lru_cache(maxsize=256)
def included_types(query: str) -> frozenset[str] | None:
    """The resource types a query's ``_include`` and ``_revinclude`` name; None when one names no
    type that can be told (``*``, a reference parameter of several types): then any is accepted.
    Cached: a supplied prefetch value is read against its discovery template, the same every call."""
    _, _, params = query.partition("?")
    if "_include" not in params and "_revinclude" not in params:
        return frozenset()
    asked = tuple((k.startswith("_rev"), v) for k, v in parse_qsl(params) if k.split(":", 1)[0] in _INCLUDES)
    return _types_named(asked)


@lru_cache(maxsize=64)
def _types_named(includes: tuple[tuple[bool, str], ...]) -> frozenset[str] | None:
    """``Source:param[:Target]``: a revinclude adds its source type, an include its target — stated,
    or the parameter's name when it is a type's (``MedicationRequest:medication`` → ``Medication``)."""
    types = set()
    for reverse, value in includes:
        parts = value.split(":")
        if reverse or len(parts) < 2:
            name = parts[0]
        else:
            name = parts[2] if len(parts) > 2 else parts[1][:1].upper() + parts[1][1:]
        try:
            model_class(name)
        except KeyError:
            return None
        types.add(name)
    return frozenset(types)


def _count(total: Any) -> int | None:
    """A Bundle's ``total`` as a number of matches: an integer, or one sent as an integral float or a
    digit string (``2.0``, ``"2"``); a ``total`` that states no count (``"many"``, ``true``) raises
    ``FhirIncompleteSearch``: the matches cannot be checked against it. None when there is none."""
    if total is None or (type(total) is int):
        return total
    if type(total) is float and total.is_integer():
        return int(total)
    if type(total) is str and total.strip().isdigit():
        return int(total.strip())
    raise FhirIncompleteSearch("a search total that states no count")


def _succeeded(status: Any) -> bool:
    """A ``response.status`` that is a 2xx code (``"200 OK"``, ``"201"``)."""
    return isinstance(status, str) and status.strip()[:1] == "2"


class Searchset:
    """The pages of one search read so far: their resources, and whether they are all the results."""

    __slots__ = ("match", "included", "resources", "matches", "total", "next", "pages")

    def __init__(self, query: str, resources: list[Resource] | None = None) -> None:
        self.match = query_type(query)
        self.included = included_types(query)
        self.resources: list[Resource] = [] if resources is None else resources  # every page's, as read
        self.matches = 0
        self.total: int | None = None  # the largest ``total`` a page stated
        self.next: str | None = None  # the last page's next link
        self.pages = 0

    def add_resource(self, resource: Resource) -> None:
        """A single resource given for the query: one match, if of the type asked for."""
        if resource.get("resourceType") != self.match:
            raise FhirWrongType(f"{self.match} search: a resource of another type")
        self.resources.append(resource)
        self.matches += 1
        self.pages += 1

    def add(self, bundle: Resource) -> None:
        """One more page: its matches and includes kept, then raises (see the module) when it says the
        search is not whole; nothing is kept of a page that is not understood."""
        what = f"{self.match} search"
        kind = bundle.get("type")
        if kind is not None and (type(kind) is not str or kind not in SEARCH_BUNDLES):
            raise FhirWrongType(f"{what}: the Bundle is no search result")
        found: list[Resource] = []
        matches = failed = errors = notes = 0
        entries = bundle.get("entry")
        match = self.match
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            resource = entry.get("resource")
            if "response" in entry:
                response = entry["response"]
                if isinstance(response, dict) and not _succeeded(response.get("status")):
                    failed += 1
            elif type(resource) is dict and resource.get("resourceType") == match:  # the usual match, read first
                search = entry.get("search")
                if search is None or (type(search) is dict and search.get("mode", "match") == "match"):
                    matches += 1
                    found.append(resource)
                    continue
            if not isinstance(resource, dict):
                if resource is not None:  # an entry in no shape a resource has (a list, a string): kept as an
                    found.append({})  # entry of no known type, which the record reader counts unreadable
                continue
            resource_type = resource.get("resourceType")
            if resource_type == "OperationOutcome":
                issues = resource.get("issue")
                for issue in issues if isinstance(issues, list) and issues else [None]:
                    if isinstance(issue, dict) and issue.get("severity") in NOTES:
                        notes += 1
                    else:  # an error, or a severity not understood
                        errors += 1
                continue
            search = entry.get("search")
            mode = search.get("mode") if isinstance(search, dict) else None
            if mode == "outcome":
                continue
            if resource_type == match and mode != "include":
                matches += 1
            elif resource_class(resource_type) is None:
                pass  # no resource of any type: kept for the record reader, which counts it unreadable
            elif self.included is not None and resource_type not in self.included:
                if mode == "include":
                    continue  # not asked for: not read
                raise FhirWrongType(f"{what}: a match of another resource type")
            found.append(resource)
        self.resources.extend(found)
        self.matches += matches
        total = _count(bundle.get("total"))
        if total is not None and (self.total is None or total > self.total):
            self.total = total
        self.next = next_link(bundle)
        self.pages += 1
        if errors or notes:  # counts only: an outcome's text may name the patient
            level = logging.INFO if errors else logging.DEBUG
            log.log(level, "search outcome issues", extra={"resource_type": self.match, "errors": errors, "notes": notes})
        if errors:
            raise FhirSearchError(f"{what}: an OperationOutcome reports {errors} error(s)")
        if failed:
            raise FhirEntryFailed(f"{what}: {failed} entry response(s) not 2xx")

    def finish(self) -> list[Resource]:
        """Every page's resources, once no next page is left; raises ``FhirIncompleteSearch`` when they
        hold fewer matches than the search's ``total``."""
        if self.total is not None and self.matches < self.total:
            log.info("search incomplete", extra={"resource_type": self.match, "matches": self.matches, "total": self.total})
            raise FhirIncompleteSearch(f"{self.match} search: {self.matches} of {self.total} matches, no next page")
        return self.resources
