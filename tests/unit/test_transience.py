"""Cards already shown: stable uuids for repeats, no repeat at signing, bounded state."""

from __future__ import annotations

from cds_service.protocol.models import Card, Source
from cds_service.rules.base import Finding
from cds_service.transience import SeenCards
from tests.unit.rules_support import order


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def shown(rule: str = "imaging-without-red-flags", indicator: str = "warning", code: str = "72141", summary: str = "No red flags") -> tuple[Finding, Card]:
    """One (finding, card) pair about a draft MRI whose JSON carries ``code``."""
    draft = order("mri", "imaging-mri-cervical-spine")
    draft.resource.update({"resourceType": "ServiceRequest", "id": "mri", "code": {"coding": [{"code": code}]}})
    card = Card(summary=summary, indicator=indicator, source=Source(label="source"))  # type: ignore[arg-type]
    return Finding(rule, (draft,), ()), card


def test_a_repeat_at_order_select_is_sent_with_its_first_uuid() -> None:
    """The same card for the same patient and unchanged order is sent again under the uuid it was first sent with."""
    seen = SeenCards(600)
    first, _ = seen.filter("order-select", "p1", [shown()])
    again, held = seen.filter("order-select", "p1", [shown()])
    assert held == [] and len(again) == 1
    assert again[0][1].uuid == first[0][1].uuid


def test_order_sign_holds_back_a_card_shown_at_order_select() -> None:
    """At order-sign a warning already shown for the unchanged order is not sent again."""
    seen = SeenCards(600)
    seen.filter("order-select", "p1", [shown()])
    kept, held = seen.filter("order-sign", "p1", [shown()])
    assert kept == [] and held == ["imaging-without-red-flags"]


def test_a_critical_card_is_always_sent_at_order_sign() -> None:
    """A critical card is repeated at order-sign (with its first uuid)."""
    seen = SeenCards(600)
    first, _ = seen.filter("order-select", "p1", [shown("red-flag-urgent", "critical")])
    kept, held = seen.filter("order-sign", "p1", [shown("red-flag-urgent", "critical")])
    assert held == [] and kept[0][1].uuid == first[0][1].uuid


def test_a_changed_order_or_another_patient_is_new() -> None:
    """Another study code, another patient or another summary make a new card (new uuid, sent at signing)."""
    seen = SeenCards(600)
    first, _ = seen.filter("order-select", "p1", [shown()])
    for hook, patient, pair in (
        ("order-sign", "p1", shown(code="72148")),
        ("order-sign", "p2", shown()),
        ("order-sign", "p1", shown(summary="Other advice")),
    ):
        kept, held = seen.filter(hook, patient, [pair])
        assert held == [] and kept[0][1].uuid != first[0][1].uuid


def test_entries_expire_after_the_window() -> None:
    """Past the window a card counts as new again: a new uuid, and sent at signing."""
    clock = Clock()
    seen = SeenCards(600, clock=clock)
    first, _ = seen.filter("order-select", "p1", [shown()])
    clock.now = 601
    kept, held = seen.filter("order-sign", "p1", [shown()])
    assert held == [] and kept[0][1].uuid != first[0][1].uuid
    assert len(seen) == 1


def test_state_is_bounded() -> None:
    """No more than max_entries cards are remembered, the oldest dropped first."""
    seen = SeenCards(600, max_entries=3)
    for n in range(10):
        seen.filter("order-select", f"p{n}", [shown()])
    assert len(seen) == 3
    kept, held = seen.filter("order-sign", "p9", [shown()])
    assert held == ["imaging-without-red-flags"]
    kept, held = seen.filter("order-sign", "p0", [shown()])
    assert held == [] and len(kept) == 1


def test_cards_of_one_response_about_different_orders_are_told_apart() -> None:
    """In one response, the same advice about two different orders is two cards, each repeated later under its own uuid."""
    seen = SeenCards(600)
    mri, card = shown(code="72141")
    same_order = (Finding("physical-therapy-first", mri.orders, ()), Card(summary="No red flags", indicator="warning", source=Source(label="s")))
    first = [(mri, card), shown(code="72148"), same_order]
    sent, _ = seen.filter("order-select", "p1", first)
    assert len(sent) == 3 and len({c.uuid for _, c in sent}) == 3
    again, held = seen.filter("order-select", "p1", [shown(code="72148"), shown(code="72141", rule="physical-therapy-first"), shown(code="72141")])
    assert held == []
    assert [c.uuid for _, c in again] == [sent[1][1].uuid, sent[2][1].uuid, sent[0][1].uuid]
