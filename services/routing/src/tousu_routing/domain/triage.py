"""The first, automatic triage: a pure function of the complaint's text.

No I/O and no clock, so the same text and the same rule table always give the
same decision — which is what makes a decision explainable and testable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from tousu_common.events import ComplaintCategory, Urgency
from tousu_routing.domain.rules import (
    DEFAULT_RULE,
    RULES,
    RULESET_VERSION,
    URGENT_KEYWORDS,
    Rule,
)


@dataclass(frozen=True)
class Decision:
    """What the rules decided, and which keywords made them decide it."""

    category: ComplaintCategory
    urgency: Urgency
    owner_department: str
    rule_id: str
    ruleset_version: str
    matched_keywords: tuple[str, ...]
    urgent_keywords: tuple[str, ...]


def triage(title: str, description: str, product_model: str | None) -> Decision:
    """Classify a complaint with :data:`~tousu_routing.domain.rules.RULES`.

    The rule with the most distinct keyword hits wins (ties go to the earlier
    rule), so one passing mention of "engine" in a complaint about a rude
    technician does not send it to the Quality department. No hit at all falls
    back to :data:`~tousu_routing.domain.rules.DEFAULT_RULE`.
    """
    text = " ".join(part for part in (title, description, product_model) if part).casefold()
    best: Rule = DEFAULT_RULE
    best_hits: tuple[str, ...] = ()
    for rule in RULES:
        hits = _hits(text, rule.keywords)
        if len(hits) > len(best_hits):
            best, best_hits = rule, hits
    urgent_hits = _hits(text, URGENT_KEYWORDS)
    return Decision(
        category=best.category,
        urgency=Urgency.urgent if urgent_hits else best.urgency,
        owner_department=best.owner_department,
        rule_id=best.rule_id,
        ruleset_version=RULESET_VERSION,
        matched_keywords=best_hits,
        urgent_keywords=urgent_hits,
    )


def _hits(text: str, keywords: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(keyword for keyword in keywords if _pattern(keyword).search(text))


@cache
def _pattern(keyword: str) -> re.Pattern[str]:
    # Latin keywords must not follow a Latin letter ("leak" finds "leaking",
    # "late" does not find "plate") but may follow Chinese ("发动机noise");
    # CJK keywords may sit anywhere, there are no spaces to anchor on.
    escaped = re.escape(keyword.casefold())
    return re.compile(rf"(?<![a-z]){escaped}" if keyword[:1].isascii() else escaped)
