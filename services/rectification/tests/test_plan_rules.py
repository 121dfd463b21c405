"""The plan rules of domain/plans.py, without a database or HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from tousu_common.domain_errors import InvalidInput
from tousu_common.events.catalog import ResolutionActionKind
from tousu_rectification.domain.plans import checked_actions

TODAY = date(2026, 12, 6)


@dataclass
class Money:
    kind: str
    description: str
    due_date: date
    amount: Decimal | None = None
    currency: str | None = None


@dataclass
class Service:
    kind: str
    description: str
    due_date: date


def test_a_valid_plan_becomes_resolution_actions() -> None:
    actions = checked_actions(
        [
            Money("refund", "refund", TODAY, Decimal("12.50"), "CNY"),
            Service("repair", "fix", TODAY),
        ],
        today=TODAY,
    )
    assert [a.kind for a in actions] == [ResolutionActionKind.refund, ResolutionActionKind.repair]
    assert actions[0].amount == Decimal("12.50") and actions[0].currency == "CNY"
    assert actions[1].amount is None and actions[1].currency is None


def test_every_problem_is_listed_by_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_actions(
            [
                Money("compensation", "pay", date(2026, 12, 5)),
                Money("repair", "fix", TODAY, Decimal(1), "CNY"),
            ],
            today=TODAY,
        )
    assert refused.value.fields == [
        {"field": "actions.0.amount", "problem": "compensation needs an amount"},
        {"field": "actions.0.currency", "problem": "compensation needs a currency"},
        {"field": "actions.0.due_date", "problem": "is in the past"},
        {"field": "actions.1.amount", "problem": "only compensation and refund have an amount"},
        {"field": "actions.1.currency", "problem": "only compensation and refund have an currency"},
    ]
    assert str(refused.value.args[0]).startswith("invalid plan: actions.0.amount: ")
