"""Everything that can go wrong talking to a FHIR server, as one exception hierarchy.

    FhirError                      reason: a short machine string, safe to log
      ├── FhirUnauthorized         401
      ├── FhirForbidden            403
      ├── FhirNotFound             404, 410
      ├── FhirServerError          5xx and any other unexpected status
      ├── FhirTimeout              connect/read timeout or a deadline passed
      ├── FhirMalformedResponse    not JSON, not a Bundle where one was searched for, too large
      │     └── FhirWrongType      a resource of a type the query did not ask for, or no search
      │                            result (``wrong-type``; ``fhir.searchset``)
      ├── FhirIncompleteSearch     a search answered whose Bundle says it is not all the results
      │     │                      (``incomplete``: fewer matches than its ``total``)
      │     ├── FhirSearchError    an OperationOutcome in it reports an error (``search-error``)
      │     └── FhirEntryFailed    an entry's ``response.status`` is not 2xx (``entry-failed``)
      └── FhirRefused              not sent or not followed: redirect, ``next`` link to another
                                   origin, too many pages, host not allowed, bad URL

``reason`` and ``str(error)`` never carry URLs with query strings, patient ids or tokens:
they name the resource type, the status and the kind of failure only. ``code`` is the
prefetch "unavailable" code for the class (``timeout``, ``unauthorized`` …).
"""

from __future__ import annotations


class FhirError(Exception):
    """A FHIR interaction failed; ``reason`` says how, without PHI or secrets."""

    code = "fhir-error"

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class FhirUnauthorized(FhirError):
    code = "unauthorized"


class FhirForbidden(FhirError):
    code = "forbidden"


class FhirNotFound(FhirError):
    code = "not-found"


class FhirServerError(FhirError):
    code = "server-error"


class FhirTimeout(FhirError):
    code = "timeout"


class FhirMalformedResponse(FhirError):
    code = "malformed"


class FhirWrongType(FhirMalformedResponse):
    """Not understood: nothing of it is read."""

    code = "wrong-type"


class FhirIncompleteSearch(FhirError):
    """The Bundle's results are real but not all of them: they count as positive evidence only."""

    code = "incomplete"


class FhirSearchError(FhirIncompleteSearch):
    code = "search-error"


class FhirEntryFailed(FhirIncompleteSearch):
    code = "entry-failed"


class FhirRefused(FhirError):
    code = "refused"


_BY_STATUS: dict[int, type[FhirError]] = {
    401: FhirUnauthorized,
    403: FhirForbidden,
    404: FhirNotFound,
    410: FhirNotFound,
}


def error_for_status(status: int, what: str = "resource") -> FhirError:
    """The error for a non-2xx HTTP status (the one place statuses are mapped)."""
    if 300 <= status < 400:
        return FhirRefused(f"{what}: redirect {status} not followed", status=status)
    cls = _BY_STATUS.get(status, FhirServerError)
    return cls(f"{what}: HTTP {status}", status=status)
