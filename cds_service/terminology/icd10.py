"""ICD-10-CM helpers: existence checks for content lint, and code normalisation.

Existence is checked against the ICD-10-CM tabular list shipped by the ``simple-icd-10-cm``
package; categories ("Z85") and block-free subcategories ("M50.1") count as existing codes.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # simple-icd-10-cm 1.5 reads its data with the deprecated importlib.resources read_text/open_text.
    warnings.filterwarnings("ignore", message="(read|open)_text is deprecated", category=DeprecationWarning)
    import simple_icd_10_cm as _icd

from cds_service.terminology.systems import ICD10CM, normalize_code


def normalize_icd10(code: str) -> str:
    """Return ``code`` without dots, upper-cased and stripped ("m54.2 " -> "M542")."""
    return normalize_code(ICD10CM, code)


def dotted_icd10cm(code: str) -> str:
    """Return the dotted form of an ICD-10-CM code ("M542" -> "M54.2", "Z85" -> "Z85")."""
    plain = normalize_icd10(code)
    return plain if len(plain) <= 3 else f"{plain[:3]}.{plain[3:]}"


def icd10cm_exists(code: str) -> bool:
    """Whether ``code`` (dotted or not) is a category or code of ICD-10-CM."""
    dotted = dotted_icd10cm(code)
    return bool(dotted) and "-" not in dotted and _icd.is_valid_item(dotted)


def icd10cm_title(code: str) -> str | None:
    """The official title of ``code``, or None when it does not exist."""
    return _icd.get_description(dotted_icd10cm(code)) if icd10cm_exists(code) else None
