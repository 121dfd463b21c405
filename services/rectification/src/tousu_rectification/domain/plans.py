"""The rules a resolution plan's actions obey before the case sees the plan.

Money kinds (compensation, refund) need an amount and a currency, other kinds
neither; no action is due before today in the company's time zone. Every
problem is reported at once, by field (``actions.<n>.<name>``), as a 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Protocol

from tousu_common.domain_errors import InvalidInput
from tousu_common.events.catalog import ResolutionAction, ResolutionActionKind

MONEY_KINDS = (ResolutionActionKind.compensation, ResolutionActionKind.refund)


class ActionDraft(Protocol):
    """An action as a caller proposes it; ``amount`` and ``currency`` may be absent."""

    kind: str
    description: str
    due_date: date


def checked_actions(actions: Sequence[ActionDraft], *, today: date) -> list[ResolutionAction]:
    """Money actions need amount and currency, others neither; no due date in the past."""
    problems: list[dict[str, str]] = []
    for index, action in enumerate(actions):
        where = f"actions.{index}"
        kind = ResolutionActionKind(action.kind)
        if kind in MONEY_KINDS:
            if _field(action, "amount") is None:
                problems.append(
                    {"field": f"{where}.amount", "problem": f"{action.kind} needs an amount"}
                )
            if _field(action, "currency") is None:
                problems.append(
                    {"field": f"{where}.currency", "problem": f"{action.kind} needs a currency"}
                )
        else:
            for name in ("amount", "currency"):
                if _field(action, name) is not None:
                    problems.append(
                        {
                            "field": f"{where}.{name}",
                            "problem": f"only compensation and refund have an {name}",
                        }
                    )
        if action.due_date < today:
            problems.append({"field": f"{where}.due_date", "problem": "is in the past"})
    if problems:
        raise InvalidInput(
            "invalid plan: " + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
            fields=problems,
        )
    return [
        ResolutionAction(
            kind=ResolutionActionKind(action.kind),
            description=action.description,
            due_date=action.due_date,
            amount=_field(action, "amount"),
            currency=_field(action, "currency"),
        )
        for action in actions
    ]


def _field(action: ActionDraft, name: str) -> Decimal | str | None:
    # Only money kinds carry these fields at all: absent reads as None.
    return getattr(action, name, None)
