"""The drug a MedicationRequest or MedicationStatement names, however it names it.

A medication resource names its drug by ``medicationCodeableConcept``, or by ``medicationReference``
to a Medication: contained (``#id``), among the request's resources (a prefetch Bundle's
``_include`` entries, the draft-orders Bundle), or fetched from the FHIR server
(hooks/medfetch.py). A resolved Medication's ``code`` — with its ingredients'
``itemCodeableConcept`` codings — is classified exactly as a ``medicationCodeableConcept`` is.

A reference that cannot be resolved is not "no medication": its ``display`` (if any) stays as the
drug's text, classified by drug name, and the caller records it as unresolved. Medications are
read as raw JSON and never validated; the request's Medications are indexed on the first
reference that needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

CODE = "medicationCodeableConcept"
REFERENCE = "medicationReference"

# ``Medication/<id>`` at the end of a relative or absolute reference, a version suffix allowed.
_MEDICATION_REF = re.compile(r"(?:^|/)(Medication/[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def medication_ref(reference: Any) -> str | None:
    """``Medication/<id>`` for a literal reference to a Medication (relative, absolute or versioned)."""
    if type(reference) is not str:
        return None
    match = _MEDICATION_REF.search(reference.strip())
    return match.group(1) if match else None


class MedicationIndex:
    """The Medications a request's references can resolve to, by ``Medication/<id>``: those among
    ``sources`` (lists of raw resources, indexed on first use) and those added (fetched)."""

    def __init__(self, *sources: Iterable[Any]) -> None:
        self._sources: tuple[Iterable[Any], ...] | None = sources
        self._found: dict[str, dict[str, Any]] = {}

    def _indexed(self) -> dict[str, dict[str, Any]]:
        if self._sources is not None:
            found: dict[str, dict[str, Any]] = {}
            for source in self._sources:
                for raw in source:
                    if type(raw) is dict and raw.get("resourceType") == "Medication" and type(raw.get("id")) is str:
                        found.setdefault(f"Medication/{raw['id']}", raw)  # the first copy is kept
            self._found = found | self._found
            self._sources = None
        return self._found

    def get(self, ref: str) -> dict[str, Any] | None:
        """The Medication ``ref`` (``Medication/<id>``), if the request has it."""
        return self._indexed().get(ref)

    def add(self, found: Mapping[str, dict[str, Any]]) -> None:
        """Add fetched Medications (by ``Medication/<id>``), keeping those the request carries."""
        self._found = dict(found) | self._indexed()


NO_MEDICATIONS = MedicationIndex()


def referenced(raw: dict[str, Any]) -> str | None:
    """The ``Medication/<id>`` a medication resource references outside itself; None when it
    names its drug by code or by a contained Medication."""
    if CODE in raw:
        return None
    reference = raw.get(REFERENCE)
    return medication_ref(reference.get("reference")) if type(reference) is dict else None


def drug_concept(raw: dict[str, Any], medications: MedicationIndex) -> tuple[Any, str | None]:
    """(the CodeableConcept naming the drug of ``raw``, the reference when it could not be resolved).

    The concept is ``medicationCodeableConcept``, else the referenced Medication's code and
    ingredients, else — unresolved — the reference's display as text (None without one).
    """
    concept = raw.get(CODE)
    if concept is not None:
        return concept, None
    reference = raw.get(REFERENCE)
    if type(reference) is not dict:
        return None, None
    target = reference.get("reference")
    medication = None
    if type(target) is str and target.startswith("#"):
        medication = _contained(raw, target[1:])
    elif (ref := medication_ref(target)) is not None:
        medication = medications.get(ref)
    if medication is not None:
        return medication_concept(medication), None
    display = reference.get("display")
    text = display.strip() if type(display) is str else ""
    return ({"text": text} if text else None), (target if type(target) is str else "")


def _contained(raw: dict[str, Any], local_id: str) -> dict[str, Any] | None:
    contained = raw.get("contained")
    for item in contained if type(contained) is list else ():
        if type(item) is dict and item.get("resourceType") == "Medication" and item.get("id") == local_id:
            return item
    return None


def medication_concept(medication: dict[str, Any]) -> dict[str, Any]:
    """One CodeableConcept for a Medication: its code's codings and text, then its ingredients'
    ``itemCodeableConcept`` codings (and their text when the code has none)."""
    code = medication.get("code")
    code = code if type(code) is dict else {}
    ingredients = medication.get("ingredient")
    items = [
        i["itemCodeableConcept"]
        for i in (ingredients if type(ingredients) is list else ())
        if type(i) is dict and type(i.get("itemCodeableConcept")) is dict
    ]
    if not items:
        return code
    codings: list[Any] = []
    for part in (code, *items):
        listed = part.get("coding")
        if type(listed) is list:
            codings += listed
    concept: dict[str, Any] = {"coding": codings}
    text = code.get("text")
    if type(text) is str and text.strip():
        concept["text"] = text
    elif not code.get("coding"):
        concept["text"] = " ".join(t for i in items if type(t := i.get("text")) is str)
    return concept
