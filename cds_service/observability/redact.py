"""Defence in depth for logs: a filter that strips secrets and patient data from every record.

The code already logs only ids of rules, keys and reason codes. This filter, installed on the
log handler, catches what slips through anyway:

* extra fields (and nested dict keys) named like a secret or a patient attribute are replaced by
  ``[redacted]`` (``authorization``, ``access_token``, ``token``, ``name``, ``birthDate`` …);
* in every string — the message, extra values, tracebacks — JWT-looking strings become ``[jwt]``,
  ``Bearer <credential>`` becomes ``Bearer [redacted]`` and the query string of a URL is dropped
  (a FHIR search URL carries ``?patient=<id>``).

It runs on every record, so it is cheap where there is nothing to mask (the usual case): a few
substring tests decide whether a string can hold any of the patterns before they are applied,
key names are classified once, and containers are copied only where something changed.
"""

from __future__ import annotations

import functools
import logging
import re
from operator import is_not
from typing import Any

REDACTED = "[redacted]"
MAX_DEPTH = 6

# Compared after lower-casing and removing "_", "-" and ".".
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "token",
        "jwt",
        "bearer",
        "password",
        "secret",
        "cookie",
        "fhirauthorization",
        "name",
        "given",
        "family",
        "patientname",
        "birthdate",
        "dob",
        "identifier",
        "mrn",
        "ssn",
        "telecom",
        "address",
        "phone",
        "email",
        "patient",
        "patientid",
        "subject",
    }
)

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_URL_QUERY = re.compile(r"(\bhttps?://[^\s?#\"'<>]+)\?[^\s#\"'<>]*")
_TOKEN_PARAM = re.compile(r"(?i)\b(access_token|token|id_token|patient|identifier|birthdate|name)=([^\s&\"']+)")

_SCALARS = frozenset({int, float, bool, type(None)})

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


@functools.lru_cache(maxsize=4096)
def is_sensitive(key: object) -> bool:
    """Whether a field called ``key`` may hold a secret or patient data."""
    return isinstance(key, str) and key.lower().replace("_", "").replace("-", "").replace(".", "") in SENSITIVE_KEYS


def maskable(text: str) -> bool:
    """Whether any pattern of ``mask`` can match ``text``: it holds "eyJ", "bearer" (any case), "://"
    or "=". Substring tests, several times faster than a regex scan, spare most strings the patterns."""
    return "=" in text or "://" in text or "eyJ" in text or "bearer" in text.lower()


def mask(text: str) -> str:
    """``text`` with JWTs, bearer credentials, URL query strings and token parameters masked."""
    if not text or not maskable(text):
        return text
    text = _JWT.sub("[jwt]", text)
    text = _BEARER.sub(r"\1 " + REDACTED, text)
    text = _URL_QUERY.sub(r"\1?" + REDACTED, text)
    return _TOKEN_PARAM.sub(r"\1=" + REDACTED, text)


def scrub(value: Any, depth: int = 0) -> Any:
    """``value`` safe to log: sensitive keys redacted, strings masked, depth bounded; a list or dict
    whose items need no change is returned as it is (the usual case: ids and codes)."""
    kind = type(value)
    if kind is str:
        return mask(value)
    if kind in _SCALARS or (not value and (kind is list or kind is dict)):
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, (bool, int, float)):
        return value
    if depth >= MAX_DEPTH:
        return "[...]"
    if isinstance(value, dict):
        out = {str(k): REDACTED if is_sensitive(k) else scrub(v, depth + 1) for k, v in value.items()}
        unchanged = kind is dict and all(type(k) is str for k in value) and not any(map(is_not, out.values(), value.values()))
        return value if unchanged else out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [scrub(v, depth + 1) for v in value]
        return value if kind is list and not any(map(is_not, items, value)) else items
    return mask(str(value))


class RedactionFilter(logging.Filter):
    """Rewrites each record in place so no handler after it can emit a secret; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = mask(message), None
        fields = record.__dict__
        for key in fields.keys() - _STANDARD:
            value = fields[key]
            if is_sensitive(key):
                fields[key] = REDACTED
            elif type(value) is str:  # the usual extra: an id or a code
                if maskable(value):
                    fields[key] = mask(value)
            elif type(value) not in _SCALARS:
                fields[key] = scrub(value)
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True
