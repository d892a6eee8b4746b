"""What a rule is: a pure function of ``RuleInput`` that returns a ``Finding`` or None.

Rules do no I/O and read no clock: "today" is in the facts, numbers come from the rule's content
file (``params``), and wording is rendered later from the same file. A rule is registered with
the data it needs; when any of it could not be read the engine does not run the rule (silence).
A rule registered with ``reassures=True`` says no red flag was found: its finding is withheld
when the record holds entries that could show one but were not read or recognised
(``PatientFacts.uncertain``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel

from cds_service.facts import DraftOrder, Fact, PatientFacts
from cds_service.rules.params import NoParams


@dataclass(slots=True)  # read, never changed (one per rule per call): built faster than a frozen one
class RuleInput:
    facts: PatientFacts
    orders: tuple[DraftOrder, ...]  # the orders this hook evaluates (selected, or all at signing)
    all_orders: tuple[DraftOrder, ...]  # every draft order, for context (a PT referral drafted)
    params: Mapping[str, Any]

    def triggering(self, *valuesets: str) -> tuple[DraftOrder, ...]:
        return tuple([o for o in self.orders if not o.valuesets.isdisjoint(valuesets)])  # o.in_any, inlined

    def drafted(self, *valuesets: str) -> tuple[DraftOrder, ...]:
        return tuple([o for o in self.all_orders if not o.valuesets.isdisjoint(valuesets)])


@dataclass(frozen=True)
class Reason:
    """Why a card fires; ``key`` selects its indicator and text in the content file."""

    key: str
    facts: tuple[Fact, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionSpec:
    """One FHIR action of a suggestion; ``key`` selects its description in the content file."""

    key: str
    type: Literal["create", "update", "delete"]
    resource: dict[str, Any] | None = None
    resource_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuggestionSpec:
    key: str
    actions: tuple[ActionSpec, ...]
    recommended: bool = False


@dataclass(frozen=True)
class Finding:
    rule_id: str
    orders: tuple[DraftOrder, ...]
    reasons: tuple[Reason, ...]
    suggestions: tuple[SuggestionSpec, ...] = ()


RuleFn = Callable[[RuleInput], Finding | None]


@dataclass(frozen=True)
class RuleSpec:
    id: str
    fn: RuleFn
    needs: frozenset[str]
    reasons: tuple[str, ...]
    suggestions: tuple[str, ...]
    params_model: type[BaseModel]
    valuesets: tuple[str, ...] = ()
    reassures: bool = False


REGISTRY: dict[str, RuleSpec] = {}


def rule(
    rule_id: str,
    *,
    needs: tuple[str, ...],
    reasons: tuple[str, ...] = ("default",),
    suggestions: tuple[str, ...] = (),
    params: type[BaseModel] = NoParams,
    valuesets: tuple[str, ...] = (),
    reassures: bool = False,
) -> Callable[[RuleFn], RuleFn]:
    """Register a rule under its id (also its content file, card topic code and metric label).

    ``params`` is the pydantic model (``rules.params``) the content file's ``params`` must
    validate against: types, units and allowed ranges. ``valuesets`` are the ids of the value
    sets the rule reads; content without one of them is rejected.
    """

    def register(fn: RuleFn) -> RuleFn:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id} registered twice")

        @functools.wraps(fn)
        def registered(data: RuleInput) -> Finding | None:
            found = fn(data)
            return None if found is None else replace(found, rule_id=rule_id)  # the id is the registration's

        REGISTRY[rule_id] = RuleSpec(rule_id, registered, frozenset(needs), reasons, suggestions, params, valuesets, reassures)
        return registered

    return register


def finding(orders: tuple[DraftOrder, ...], *reasons: Reason, suggestions: tuple[SuggestionSpec, ...] = ()) -> Finding:
    """A rule's finding; its rule id is the one the rule is registered under (``rule``)."""
    return Finding("", orders, tuple(reasons), suggestions)
