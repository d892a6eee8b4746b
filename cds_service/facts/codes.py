"""Value-set membership of codes, precompiled once per content load.

``CodeIndex.memberships(system, code)`` answers "which value sets hold this code" with one dict
lookup for listed codes (under the system's canonical URL, whatever name the EHR sent it by); value
sets with ``is-a`` filters are asked only for systems they use, and answers are cached, as are a
medication's codes and drug name (``of_medication``), so classifying a 1,000-resource record stays cheap.
A medication that no code identifies is matched by name: ingredient names (``INGREDIENTS``) and,
for the red-flag drug sets, the ingredient and brand names of their members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from re import Pattern
from typing import Any

from cds_service.facts.model import RED_FLAG_SETS
from cds_service.terminology import Terminology
from cds_service.terminology.drugnames import MemberNames
from cds_service.terminology.systems import HIERARCHICAL_SYSTEMS, RXNORM, canonical_system, normalize_code

Coding = tuple[str | None, str | None]
CONCEPTS_KEPT = 65_536  # per kind, the raw concepts whose classification is kept (then all are dropped)


class CodeIndex:
    def __init__(
        self, terminology: Terminology, red_flag_text: Pattern[str] | None = None, fact_text: Mapping[str, Pattern[str]] | None = None
    ):
        self.terminology = terminology
        # Words naming red-flag concepts (cards/_red_flag_terms.yaml), compiled once per content load.
        self.red_flag_text = red_flag_text
        # Words naming the concepts of a patient fact, per fact (cards/_fact_terms.yaml).
        self.fact_text = dict(fact_text or {})
        # Per kind of record entry, a raw code concept's JSON -> its classification (facts/record.py),
        # kept for the content load: the codes of one patient's record recur in the next one's.
        self.classified: tuple[dict[bytes, Any], ...] = ({}, {}, {})
        exact: dict[tuple[str, str], set[str]] = defaultdict(set)
        by_system: dict[str, list[Any]] = defaultdict(list)
        for vs in terminology.valuesets.values():
            for system, code in vs.codes():
                exact[(system, normalize_code(system, code))].add(vs.id)
            for system in vs.systems:
                if system in HIERARCHICAL_SYSTEMS:
                    by_system[system].append(vs)
        self._exact = {k: frozenset(v) for k, v in exact.items()}
        self._hierarchical = dict(by_system)
        # The red-flag drug sets list products of ingredients the ingredient table does not name
        # (immunosuppressants): a medication no code identifies is found in them by those names.
        self._member_names = MemberNames(
            {vs.id: vs.drug_displays for vs in terminology.valuesets.values() if vs.id in RED_FLAG_SETS and vs.drug_displays}
        )
        self.memberships = lru_cache(maxsize=65_536)(self._memberships)
        self._medication = lru_cache(maxsize=16_384)(self._of_medication)

    def _memberships(self, system: str | None, code: str | None) -> frozenset[str]:
        if not system or not code:
            return frozenset()
        system = canonical_system(system)
        hits = self._exact.get((system, normalize_code(system, code)), frozenset())
        sets = self._hierarchical.get(system)
        if sets:
            extra = {vs.id for vs in sets if vs.id not in hits and vs.contains(system, code)}
            if extra:
                hits = hits | extra
        return hits

    def names_red_flag(self, text: str) -> bool:
        """Whether ``text`` names a red-flag concept: the content's words (lower case) in the lowercased text."""
        words = self.red_flag_text
        return bool(text) and words is not None and words.search(text.lower()) is not None

    def concept_names_red_flag(self, concept: Any) -> bool:
        """Whether a raw CodeableConcept's text or coding displays name a red-flag concept (the record
        keeps the answer with the concept's classification, ``classified``)."""
        return self.red_flag_text is not None and self.names_red_flag(_plain_text(concept))

    def concept_names_facts(self, concept: Any) -> frozenset[str]:
        """The facts (``_fact_terms.yaml`` groups) whose words a raw CodeableConcept's text or coding
        displays name (the record keeps the answer with the concept's classification)."""
        if not self.fact_text:
            return frozenset()
        text = _plain_text(concept).lower()
        return frozenset(fact for fact, words in self.fact_text.items() if words.search(text)) if text else frozenset()

    def of_codings(self, codings: Iterable[Coding]) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for system, code in codings:
            found = self.memberships(system, code)
            if found:
                out = out | found
        return out

    def of_medication(self, codings: list[Coding], text: str) -> tuple[frozenset[str], frozenset[str]]:
        """(ingredient codes, drug value sets) for a medication's codings and text (drug names);
        cached like single codes: a drug name is matched against the ingredient names once."""
        return self._medication(tuple(codings), text)

    def _of_medication(self, codings: tuple[Coding, ...], text: str) -> tuple[frozenset[str], frozenset[str]]:
        rxnorm = self.terminology.rxnorm
        ingredients = frozenset(rxnorm.ingredients_for(codings, text))
        coded = self.of_codings(codings)
        sets = coded | self.of_codings((RXNORM, i) for i in ingredients)
        if not coded and not rxnorm.coded_ingredients(codings):  # no code matches (an NDC, a local code): the names
            sets |= self._member_names.find(text)
        return ingredients, sets

    def codes_of(self, valueset_ids: Iterable[str]) -> list[tuple[str, str]]:
        """Every listed (system, code) of the value sets, in order, without repeats."""
        out: dict[tuple[str, str], None] = {}
        for vs_id in valueset_ids:
            vs = self.terminology.valuesets.get(vs_id)
            if vs is not None:
                out.update(dict.fromkeys(vs.codes()))
        return list(out)


def _is_map(value: Any) -> bool:
    # JSON objects are dicts: the exact-type check spares the slower ABC check on every coding.
    return type(value) is dict or isinstance(value, Mapping)


def raw_codings(concept: Any) -> list[Coding]:
    """(system, code) pairs of a raw CodeableConcept dict; tolerant of sloppy shapes."""
    if type(concept) is dict:  # JSON objects are dicts: the common case, without ABC checks
        codings = concept.get("coding")
    elif isinstance(concept, list):
        return [c for item in concept for c in raw_codings(item)]
    elif isinstance(concept, Mapping):
        codings = concept.get("coding")
    else:
        return []
    if type(codings) is not list:
        if _is_map(codings):
            codings = [codings]
        elif not isinstance(codings, list):
            return []
    out: list[Coding] = []
    for c in codings:
        if _is_map(c):
            system, code = c.get("system"), c.get("code")
            if isinstance(code, str) and (system is None or isinstance(system, str)):
                out.append((system, code))
    return out


def raw_text(concept: Any) -> str:
    """The human text of a raw CodeableConcept: its text, else its codings' displays."""
    if isinstance(concept, list):
        return " ".join(raw_text(c) for c in concept)
    if not _is_map(concept):
        return ""
    text = concept.get("text")
    parts = [text] if isinstance(text, str) else []
    codings = concept.get("coding")
    if isinstance(codings, list):
        parts += [c["display"] for c in codings if _is_map(c) and isinstance(c.get("display"), str)]
    if len(parts) == 1:
        return parts[0].strip()
    seen: set[str] = set()  # a display that repeats the text (the usual case) is said once
    unique = []
    for part in parts:
        part = part.strip()
        if part and (folded := part.lower()) not in seen:
            seen.add(folded)
            unique.append(part)
    return " ".join(unique)


def _plain_text(concept: Any) -> str:
    """A raw CodeableConcept's text and coding displays, joined as they are (``raw_text`` without
    its tidying, for a word search)."""
    if type(concept) is not dict:
        return raw_text(concept)
    text = concept.get("text")
    parts = [text] if type(text) is str else []
    codings = concept.get("coding")
    if type(codings) is list:
        parts += [d for c in codings if type(c) is dict and type(d := c.get("display")) is str]
    return " ".join(parts)
