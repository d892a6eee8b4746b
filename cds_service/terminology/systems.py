"""Canonical code-system URLs, their common aliases, and code normalisation.

EHRs send the same system under several names (HL7 OIDs, a trailing slash); `canonical_system`
maps them to the URLs the value sets use. ICD-10-CM and ICD-10-PCS codes are compared without
dots and upper-cased, so "M54.2", "m54.2" and "M542" are one code.
"""

from __future__ import annotations

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

KNOWN_SYSTEMS: frozenset[str] = frozenset({ICD10CM, ICD10PCS, SNOMED, CPT, LOINC, RXNORM})

#: Systems whose codes form a prefix hierarchy, so that `is-a` is a prefix match.
HIERARCHICAL_SYSTEMS: frozenset[str] = frozenset({ICD10CM, ICD10PCS})

_ALIASES: dict[str, str] = {
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.4": ICD10PCS,
    "http://www.cms.gov/medicare/coding/icd10": ICD10PCS,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
}
for _url in KNOWN_SYSTEMS:
    _ALIASES[_url + "/"] = _url


def canonical_system(system: str) -> str:
    """Return the canonical URL for ``system`` (unchanged when it is not a known alias)."""
    return _ALIASES.get(system, system)


def normalize_code(system: str, code: str) -> str:
    """Normalise ``code`` for comparison within the canonical ``system``."""
    code = code.strip()
    if system in HIERARCHICAL_SYSTEMS:
        return code.replace(".", "").upper()
    return code
