"""One PT referral per response: the cards that lose it keep the rest of their suggestions."""

from __future__ import annotations

from cds_service.content.referral import REFERRAL_ACTION, single_referral
from cds_service.rules.base import ActionSpec, Finding, Reason, SuggestionSpec
from tests.unit.rules_support import content

REMOVE = ActionSpec("remove-order", "delete", resource_id="MedicationRequest/m1")
REFER = ActionSpec(REFERRAL_ACTION, "create", resource={"resourceType": "ServiceRequest", "id": "r1"})
SWAP = ActionSpec("swap-order", "update", resource={"resourceType": "ServiceRequest", "id": "o1"})


def finding(rule_id: str, reason: str, *suggestions: SuggestionSpec) -> Finding:
    return Finding(rule_id, (), (Reason(reason),), suggestions)


def test_a_card_that_loses_the_referral_keeps_its_other_suggestions() -> None:
    """Of two warnings offering the referral the first keeps it; the other's refer-and-cancel becomes its plain cancel, its plain cancel stays, a referral alone goes."""
    keeper = finding("opioid-first-line", "default", SuggestionSpec("remove-and-refer", (REMOVE, REFER), True))
    other = finding(
        "muscle-relaxant-older-adult",
        "default",
        SuggestionSpec("remove-and-refer", (REMOVE, REFER), True),
        SuggestionSpec("remove", (REMOVE,)),
        SuggestionSpec("remove-and-refer", (REFER,)),
    )
    title = content().rules["opioid-first-line"].content.title
    assert single_referral(content(), [keeper, other]) == [
        (keeper, None),
        (finding("muscle-relaxant-older-adult", "default", SuggestionSpec("remove", (REMOVE,), True), SuggestionSpec("remove", (REMOVE,))), title),
    ]


def test_a_rule_without_a_plain_cancel_keeps_the_suggestion_key() -> None:
    """A card whose rule has no plain 'remove' suggestion keeps the key of a suggestion that lost the referral."""
    keeper = finding("opioid-first-line", "default", SuggestionSpec("remove-and-refer", (REMOVE, REFER), True))
    other = finding("physical-therapy-first", "default", SuggestionSpec("pt-referral", (SWAP, REFER)))
    assert "remove" not in content().rules["physical-therapy-first"].content.suggestions
    (_, kept), (without, _) = single_referral(content(), [keeper, other])
    assert kept is None and without.suggestions == (SuggestionSpec("pt-referral", (SWAP,)),)


def test_a_single_referral_is_left_alone() -> None:
    """With one card offering the referral, every finding is returned as it is, with no card named."""
    only = finding("opioid-first-line", "default", SuggestionSpec("remove-and-refer", (REMOVE, REFER), True))
    plain = finding("muscle-relaxant-older-adult", "default", SuggestionSpec("remove", (REMOVE,)))
    assert single_referral(content(), [plain, only]) == [(plain, None), (only, None)]
