"""One physical-therapy referral per response, after the rules have run.

Several rules offer "refer to physical therapy"; accepting two such suggestions would create two
referrals. Of the cards shown, the most severe one that offers the referral keeps it (ties: the
first in registry order, as cards are listed); the others lose the referral action, say in their
detail which card offers it, and keep the rest of the suggestion (a "cancel and refer"
suggestion becomes the rule's plain "remove" where the content has one). Shadow-mode findings
are not shown and are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cds_service.content.loader import ContentSet
from cds_service.protocol.models import INDICATOR_RANK
from cds_service.rules.base import Finding, SuggestionSpec

REFERRAL_ACTION = "pt-referral"  # the action key of ``rules.suggest.pt_referral``
PLAIN_REMOVE = "remove"


def finding_indicator(content: ContentSet, finding: Finding) -> str:
    """The indicator the finding's card has: the worst of its reasons'."""
    reasons = content.rules[finding.rule_id].content.reasons
    indicators = [reasons[r.key].indicator for r in finding.reasons if r.key in reasons] or ["info"]
    return max(indicators, key=INDICATOR_RANK.__getitem__)


def _refers(finding: Finding) -> bool:
    return any(a.key == REFERRAL_ACTION for s in finding.suggestions for a in s.actions)


def _without_referral(content: ContentSet, finding: Finding) -> Finding:
    keys = content.rules[finding.rule_id].content.suggestions
    kept: list[SuggestionSpec] = []
    for spec in finding.suggestions:
        actions = tuple([a for a in spec.actions if a.key != REFERRAL_ACTION])
        if not actions:
            continue
        if len(actions) == len(spec.actions):
            kept.append(spec)  # no referral in it: kept as it is
        else:
            kept.append(replace(spec, key=PLAIN_REMOVE, actions=actions) if PLAIN_REMOVE in keys else replace(spec, actions=actions))
    return replace(finding, suggestions=tuple(kept))


def single_referral(content: ContentSet, findings: Sequence[Finding]) -> list[tuple[Finding, str | None]]:
    """Each finding, with the PT referral left on the most severe shown card only, and the title
    of the card that offers it (None on that card itself and where no referral was dropped)."""
    shown = [f for f in findings if content.rules[f.rule_id].content.mode != "shadow" and _refers(f)]
    if len(shown) < 2:
        return [(f, None) for f in findings]
    keeper = max(shown, key=lambda f: INDICATOR_RANK[finding_indicator(content, f)])  # the first of the worst
    title = content.rules[keeper.rule_id].content.title
    dropped = {id(f) for f in shown if f is not keeper}
    return [(_without_referral(content, f), title) if id(f) in dropped else (f, None) for f in findings]
