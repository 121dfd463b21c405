"""Triage rules (分诊规则) as data, and the engine that applies them.

A rule set is a document (YAML in the package, JSON over the admin API):

- ``synonyms``: named keyword groups (``oil_leak: [漏油, 渗油, oil leak]``),
  referred to as ``@oil_leak`` in conditions;
- ``rules``: tried in order, the **first** rule whose conditions all hold
  decides category, urgency, owner department and whether a product-quality
  report is needed;
- ``escalations``: every one whose conditions hold may *raise* the urgency
  (never lower it) — a breakdown is urgent whatever the category;
- ``key_account_owner``: the direct owner of a key-account complaint no rule
  matched (key accounts never wait in the manual queue).

No rule matched (and not a key account) → the CSC's manual triage queue.
The engine is a pure function of the document and the complaint's facts, so
a decision can always be explained by the (immutable) version that made it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from tousu_common.events.catalog import (
    Channel,
    ComplaintCategory,
    CustomerSegment,
    CustomerTier,
    Urgency,
)
from tousu_routing.domain.text import MatchText, normalise

#: The departments a complaint can be owned by (the token's ``department`` claim).
DEPARTMENTS = (
    "csc",
    "quality",
    "supply",
    "sales",
    "logistics",
    "technical",
    "production",
    "design",
    "after_sales",
)

URGENCY_RANK = {Urgency.general: 0, Urgency.important: 1, Urgency.urgent: 2}

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Department = Annotated[str, Field(json_schema_extra={"enum": list(DEPARTMENTS)})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Strict):
    """Every condition given must hold; conditions left out do not restrict."""

    channel: list[Channel] | None = Field(default=None, max_length=10)
    tier: list[CustomerTier] | None = Field(default=None, max_length=3)
    segment: list[CustomerSegment] | None = Field(default=None, max_length=3)
    key_account: StrictBool | None = None
    product: list[Keyword] | None = Field(
        default=None,
        max_length=100,
        description="Product model patterns, case-insensitive globs (YC6*, K1?) or exact.",
    )
    any: list[Keyword] = Field(
        default_factory=list,
        max_length=300,
        description="At least one of these keywords/phrases (or @synonym groups).",
    )
    all: list[Keyword] = Field(
        default_factory=list, max_length=20, description="Every one of these (a group: any member)."
    )
    none: list[Keyword] = Field(
        default_factory=list, max_length=100, description="Negative keywords: none may occur."
    )
    attachments: StrictBool | None = Field(
        default=None, description="Attachments present (or absent)."
    )

    def terms(self) -> list[str]:
        return [*self.any, *self.all, *self.none]


class Outcome(_Strict):
    category: ComplaintCategory
    urgency: Urgency
    owner_department: Department
    quality_report_needed: StrictBool = False

    @model_validator(mode="after")
    def _known_department(self) -> Outcome:
        if self.owner_department not in DEPARTMENTS:
            raise ValueError(
                f"owner_department must be one of {', '.join(DEPARTMENTS)}, "
                f"not {self.owner_department!r}"
            )
        return self


class Rule(_Strict):
    id: RuleId
    description: str = Field(default="", max_length=500)
    enabled: StrictBool = True
    when: Conditions = Field(default_factory=Conditions)
    then: Outcome


class Escalation(_Strict):
    id: RuleId
    description: str = Field(default="", max_length=500)
    enabled: StrictBool = True
    when: Conditions
    urgency: Urgency


class RuleSetDocument(_Strict):
    """What an admin edits; each saved change becomes a new immutable version."""

    label: str = Field(default="", max_length=100, description="Free text, e.g. the file's name.")
    synonyms: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,50}$")],
        Annotated[list[Keyword], Field(min_length=1)],
    ] = Field(
        default_factory=dict,
        max_length=500,
        # pydantic says the name pattern as patternProperties, which leaves other
        # names open; the service refuses them, and so does the document.
        json_schema_extra={"additionalProperties": False},
    )
    rules: list[Rule] = Field(default_factory=list, max_length=500)
    escalations: list[Escalation] = Field(default_factory=list, max_length=200)
    key_account_owner: Outcome | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RuleSetDocument:
        ids = [rule.id for rule in self.rules] + [e.id for e in self.escalations]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"rule ids must be unique: {', '.join(repeated)}")
        for name, words in self.synonyms.items():
            if not words:
                raise ValueError(f"synonym group @{name} is empty")
        for item in [*self.rules, *self.escalations]:
            for term in item.when.terms():
                if term.startswith("@") and term[1:] not in self.synonyms:
                    raise ValueError(f"rule {item.id}: unknown synonym group {term}")
        return self


@dataclass(frozen=True)
class Facts:
    """What the rules may look at: the text as written plus the complaint's attributes."""

    title: str
    description: str
    channel: Channel
    customer_tier: CustomerTier = CustomerTier.general
    customer_segment: CustomerSegment | None = None
    key_account: bool = False
    product_model: str | None = None
    attachment_count: int = 0


@dataclass(frozen=True)
class Decision:
    """What the rules decided and why (``matched=False``: manual triage queue)."""

    matched: bool
    rule_id: str | None
    category: ComplaintCategory | None
    urgency: Urgency
    owner_department: str | None
    quality_report_needed: bool
    escalations: tuple[str, ...] = ()
    matched_terms: tuple[str, ...] = ()


KEY_ACCOUNT_RULE_ID = "key-account-owner"


class RuleSet:
    """One immutable version of the rules, compiled for matching."""

    def __init__(self, version: str, document: RuleSetDocument) -> None:
        self.version = version
        self.document = document

    @cached_property
    def _groups(self) -> dict[str, tuple[str, ...]]:
        return {
            name: tuple(dict.fromkeys(normalise(word) for word in words))
            for name, words in self.document.synonyms.items()
        }

    def _expand(self, term: str) -> tuple[str, ...]:
        if term.startswith("@"):
            return self._groups[term[1:]]
        return (normalise(term),)

    def _holds(self, when: Conditions, facts: Facts, text: MatchText, found: list[str]) -> bool:
        if when.channel is not None and facts.channel not in when.channel:
            return False
        if when.tier is not None and facts.customer_tier not in when.tier:
            return False
        if when.segment is not None and facts.customer_segment not in when.segment:
            return False
        if when.key_account is not None and facts.key_account != when.key_account:
            return False
        if when.attachments is not None and (facts.attachment_count > 0) != when.attachments:
            return False
        if when.product is not None and not _product_matches(facts.product_model, when.product):
            return False
        for term in when.none:
            if any(text.contains(word) for word in self._expand(term)):
                return False
        hits: list[str] = []
        for term in when.all:
            hit = next((word for word in self._expand(term) if text.contains(word)), None)
            if hit is None:
                return False
            hits.append(hit)
        if when.any:
            any_hits = [
                word for term in when.any for word in self._expand(term) if text.contains(word)
            ]
            if not any_hits:
                return False
            hits.extend(any_hits)
        found.extend(hits)
        return True

    def decide(self, facts: Facts) -> Decision:
        text = MatchText(facts.title, facts.description)
        decided: Rule | None = None
        terms: list[str] = []
        for rule in self.document.rules:
            found: list[str] = []
            if rule.enabled and self._holds(rule.when, facts, text, found):
                decided, terms = rule, found
                break
        escalated: list[str] = []
        urgency = decided.then.urgency if decided else Urgency.general
        for escalation in self.document.escalations:
            found = []
            if escalation.enabled and self._holds(escalation.when, facts, text, found):
                escalated.append(escalation.id)
                terms.extend(found)
                if URGENCY_RANK[escalation.urgency] > URGENCY_RANK[urgency]:
                    urgency = escalation.urgency
        terms_found = tuple(dict.fromkeys(terms))
        if decided is not None:
            outcome, rule_id = decided.then, decided.id
        elif facts.key_account and self.document.key_account_owner is not None:
            outcome, rule_id = self.document.key_account_owner, KEY_ACCOUNT_RULE_ID
            if URGENCY_RANK[outcome.urgency] > URGENCY_RANK[urgency]:
                urgency = outcome.urgency
        else:
            return Decision(
                matched=False,
                rule_id=None,
                category=None,
                urgency=urgency,
                owner_department=None,
                quality_report_needed=False,
                escalations=tuple(escalated),
                matched_terms=terms_found,
            )
        return Decision(
            matched=True,
            rule_id=rule_id,
            category=outcome.category,
            urgency=urgency,
            owner_department=outcome.owner_department,
            quality_report_needed=outcome.quality_report_needed,
            escalations=tuple(escalated),
            matched_terms=terms_found,
        )


def _product_matches(model: str | None, patterns: list[str]) -> bool:
    if not model:
        return False
    value = normalise(model)
    for pattern in patterns:
        wanted = normalise(pattern)
        if any(ch in wanted for ch in "*?["):
            if re.fullmatch(fnmatch.translate(wanted), value):
                return True
        elif value == wanted:
            return True
    return False


DEFAULT_RULES_RESOURCE = "default-rules.yaml"


def parse_document(raw: str | bytes) -> RuleSetDocument:
    data: Any = yaml.safe_load(raw)
    return RuleSetDocument.model_validate(data or {})


def default_document() -> RuleSetDocument:
    """The rule set shipped in the package (``data/default-rules.yaml``)."""
    text = resources.files("tousu_routing.data").joinpath(DEFAULT_RULES_RESOURCE).read_text("utf-8")
    return parse_document(text)
