"""Cards already shown: one count per patient, rule and unchanged draft order, and no repeat at signing.

An EHR calls ``order-select`` again on every change of an order (the CDS Hooks Sandbox did so 16
times for one card), then ``order-sign`` with the same draft orders. CDS Hooks cards are transient
— the EHR does not keep them between calls — so the service itself remembers what it showed, for
``window`` seconds, under a key of the patient, the rule, the card's indicator and summary and the
exact JSON of the draft orders the card is about (any change of an order is a new key):

- a card seen before keeps the uuid it was first sent with. The served-card table stores a uuid
  once, so the card counts as shown once however often the EHR asks, and feedback on any of its
  copies lands on that one row: override rates are not diluted by repeats.
- at ``order-sign`` a card already shown for the unchanged orders is not sent again (the clinician
  has seen that advice), except a ``critical`` card, which is always sent.
- at ``order-select`` the card is sent again: the EHR replaces its card list with each answer, and
  a card missing from the latest answer would vanish while the order is unchanged.

State is per process and bounded (``max_entries``, oldest first out); keys are hashes, so no
patient identifier is kept. With several workers or replicas a call that lands on another process
starts afresh: that card counts again and may repeat at signing (session affinity on the
patient, or one worker per patient's EHR session, keeps them together).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import orjson

from cds_service.facts import DraftOrder
from cds_service.protocol.models import Card
from cds_service.rules.base import Finding

REPEATABLE_AT_SIGN = frozenset({"critical"})
SIGN_HOOK = "order-sign"


def card_key(patient_id: str, found: Finding, card: Card, orders: bytes) -> str:
    """The identity of a card's advice: patient, rule, indicator, summary and its orders' exact
    JSON (``orders``: their ``orders_digest``, made once for the cards of a response about them)."""
    head = "\0".join((patient_id, found.rule_id, card.indicator, card.summary, "")).encode()
    return hashlib.sha256(head + orders).hexdigest()


def orders_digest(orders: Sequence[DraftOrder]) -> bytes:
    """The SHA-256 of the orders' JSON (keys sorted), in reference order, each followed by a NUL byte."""
    exact = b"".join(orjson.dumps(o.resource, option=orjson.OPT_SORT_KEYS) + b"\0" for o in sorted(orders, key=_ref))
    return hashlib.sha256(exact).digest()


def _ref(order: DraftOrder) -> str:
    return order.ref


class SeenCards:
    """Cards shown in the last ``window`` seconds (key → first uuid, expiry), at most ``max_entries``."""

    def __init__(self, window: float, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def filter(
        self, hook: str, patient_id: str, shown: Sequence[tuple[Finding, Card]]
    ) -> tuple[list[tuple[Finding, Card]], list[str]]:
        """The cards to send (repeats carrying their first uuid) and the rule ids held back at signing."""
        now = self._clock()
        self._expire(now)
        kept: list[tuple[Finding, Card]] = []
        held: list[str] = []
        digests: dict[tuple[int, ...], bytes] = {}  # the orders' digests by their objects, for this call only
        for found, card in shown:
            same = tuple(map(id, found.orders))
            orders = digests.get(same)
            if orders is None:
                orders = digests[same] = orders_digest(found.orders)
            key = card_key(patient_id, found, card, orders)
            before = self._seen.get(key)
            if before is None:
                self._seen[key] = (card.uuid, now + self.window)
                kept.append((found, card))
                continue
            card.uuid = before[0]
            if hook == SIGN_HOOK and card.indicator not in REPEATABLE_AT_SIGN:
                held.append(found.rule_id)
            else:
                kept.append((found, card))
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return kept, held

    def _expire(self, now: float) -> None:
        """Drop entries past their window (they are in expiry order: first seen, first out)."""
        while self._seen:
            key, (_, expires) = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[key]
