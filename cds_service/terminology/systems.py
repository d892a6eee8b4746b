"""Canonical code-system URLs, the names EHRs send them under, and code normalisation.

EHRs send one code system under several names: the HL7 OID (``urn:oid:2.16.840.1.113883.6.90``,
or bare), ``https`` for ``http``, with or without ``www.``, other letter case, a trailing slash,
older URLs (``http://www.icd10data.com/icd10pcs``) and SNOMED CT edition/version URIs
(``http://snomed.info/sct/731000124108/version/20240301``). `canonical_system` maps every one of
them to the URL the value sets use; every comparison of a coding's system goes through it. It is
a dict lookup per distinct system string (answers are cached), since classification calls it for
every coding of a record. ICD-10-CM and ICD-10-PCS codes are compared without dots and upper-cased,
so "M54.2", "m54.2" and "M542" are one code.
"""

from __future__ import annotations

import re

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

#: The systems value sets may list codes of.
KNOWN_SYSTEMS: frozenset[str] = frozenset({ICD10CM, ICD10PCS, SNOMED, CPT, LOINC, RXNORM})

#: Systems whose codes form a prefix hierarchy, so that `is-a` is a prefix match.
HIERARCHICAL_SYSTEMS: frozenset[str] = frozenset({ICD10CM, ICD10PCS})

# HL7 OIDs of the systems (terminology.hl7.org), matched with or without ``urn:oid:``.
_OIDS: dict[str, str] = {
    "2.16.840.1.113883.6.90": ICD10CM,
    "2.16.840.1.113883.6.4": ICD10PCS,
    "2.16.840.1.113883.6.96": SNOMED,
    "2.16.840.1.113883.6.12": CPT,
    "2.16.840.1.113883.6.1": LOINC,
    "2.16.840.1.113883.6.88": RXNORM,
    "2.16.840.1.113883.6.8": UCUM,
}
# URLs without scheme and ``www.``, lower-cased, without a trailing slash.
_URLS: dict[str, str] = {
    "hl7.org/fhir/sid/icd-10-cm": ICD10CM,
    "cms.gov/medicare/coding/icd10": ICD10PCS,
    "icd10data.com/icd10pcs": ICD10PCS,  # FHIR R4's terminology page and US Core 3 name PCS so
    "hl7.org/fhir/sid/icd-10-pcs": ICD10PCS,  # in use in EHR and payer data, though never official
    "snomed.info/sct": SNOMED,
    "ama-assn.org/go/cpt": CPT,
    "loinc.org": LOINC,
    "nlm.nih.gov/research/umls/rxnorm": RXNORM,
    "unitsofmeasure.org": UCUM,
}
# A SNOMED CT edition (module id) and version URI sent as the system instead of as ``version``.
_SNOMED_EDITION = re.compile(r"^snomed\.info/sct/[0-9]{6,18}(/version/[0-9]{8})?$")
_SCHEME = re.compile(r"^https?://(www\.)?")

_CACHE_LIMIT = 4096  # distinct system strings remembered; hostile input cannot grow it beyond
_cache: dict[str, str] = {url: url for url in _URLS.values()}


def _canonical(system: str) -> str:
    key = system.strip().lower().rstrip("/")
    oid = key.removeprefix("urn:oid:")
    if oid in _OIDS:
        return _OIDS[oid]
    address = _SCHEME.sub("", key)
    if address == key:  # no http(s) scheme: only OIDs are recognised without one
        return system
    found = _URLS.get(address)
    if found is None and _SNOMED_EDITION.match(address):
        found = SNOMED
    return found or system


def canonical_system(system: str) -> str:
    """The canonical URL of the code system ``system`` names (``system`` itself when unknown)."""
    found = _cache.get(system)
    if found is None:
        found = _canonical(system)
        if len(_cache) < _CACHE_LIMIT:
            _cache[system] = found
    return found


def normalize_code(system: str, code: str) -> str:
    """Normalise ``code`` for comparison within the canonical ``system``."""
    code = code.strip()
    if system in HIERARCHICAL_SYSTEMS:
        return code.replace(".", "").upper()
    return code
