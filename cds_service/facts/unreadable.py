"""Record entries that cannot be read at all, and what they leave possible.

A record entry is unreadable when its ``resourceType`` names no FHIR resource type (``condition``,
``Nope``, none at all) or its code element holds nothing that can be read — a string, a bare Coding
where a CodeableConcept belongs, codings without a string code and no text. Such an entry is skipped,
but it is not absent: under a prefetch key whose entries could show a red flag (``RED_FLAG_KEYS``:
Conditions and medications, the entries ``PatientFacts.uncertain`` reads), or as a Condition or
medication anywhere, it leaves a red flag possible and makes the record uncertain (``UNREADABLE``:
``facts/record.py`` keeps it in ``Record.unreadable``). Each call logs one WARNING counting the
unreadable entries by prefetch key and element (``{"conditions.code": 1}``), never a value.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from cds_service.facts.codes import raw_codings, raw_text
from cds_service.fhir.parse import is_fhir_id

log = logging.getLogger(__name__)

# Prefetch keys whose entries could show a red flag, with the type an entry of them stands for.
RED_FLAG_KEYS = {"conditions": "Condition", "medicationRequests": "MedicationRequest", "medicationStatements": "MedicationStatement"}
RED_FLAG_TYPES = frozenset(RED_FLAG_KEYS.values())


def unreadable_concept(concept: Any) -> bool:
    """Whether a code element that is present holds nothing that can be read: no coding with a string
    code and no text (an empty one says nothing, as an absent one)."""
    if concept is None:
        return False
    if type(concept) is dict:
        if not concept:
            return False
        codings = concept.get("coding")
        first = codings[0] if type(codings) is list and codings else None
        if type(first) is dict and type(first.get("code")) is str and type(first.get("system", "")) is str:
            return False  # the usual shape, answered without reading further
    return not raw_codings(concept) and not raw_text(concept)


class Unreadable:
    """The unreadable entries of one record: counted by prefetch key and element for the log, and
    those that leave a red flag possible kept as (reference, the type they stand for, raw JSON)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.found: list[tuple[str, str, dict[str, Any]]] = []

    def note(self, key: str, element: str, raw: dict[str, Any]) -> None:
        """One entry under prefetch ``key`` whose ``element`` (``resourceType`` or its code) cannot be read."""
        self.counts[f"{key}.{element}"] += 1
        stands_for = RED_FLAG_KEYS.get(key) if element == "resourceType" else raw.get("resourceType")
        if stands_for in RED_FLAG_TYPES:
            ident = raw.get("id")
            self.found.append((f"{stands_for}/{ident if is_fhir_id(ident) else f'?{len(self.found) + 1}'}", stands_for, raw))

    def log(self) -> None:
        if self.counts:  # counted by key and element, never a value
            log.warning("unreadable record entries", extra={"unreadable": dict(sorted(self.counts.items()))})
