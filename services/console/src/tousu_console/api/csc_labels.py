"""Names the CSC screens show for the services' codes, in both languages, and the
small helpers their templates share (time left, form parsing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tousu_console.api.deps import TEMPLATES
from tousu_console.domain.labels import (
    ACTION_KINDS,
    CASE_STATUSES,
    CATEGORIES,
    CHANNELS,
    CLOCKS,
    CONDITIONS,
    DEPARTMENTS,
    LABELS,
    RECIPIENTS,
    RECTIFICATION_STATUSES,
    ROUTING_STATUSES,
    URGENCIES,
    label,
)

__all__ = [
    "ACTION_KINDS",
    "CASE_STATUSES",
    "CATEGORIES",
    "CHANNELS",
    "CLOCKS",
    "CONDITIONS",
    "DEPARTMENTS",
    "LABELS",
    "RECIPIENTS",
    "RECTIFICATION_STATUSES",
    "ROUTING_STATUSES",
    "URGENCIES",
    "label",
    "next_due",
    "seconds_left",
    "text",
]

NEXT_DUE: dict[str, tuple[str, str]] = {
    "first_response": ("首次响应", "First response"),
    "resolution_plan": ("解决方案期限", "Resolution plan due"),
    "plan": ("提出方案", "Propose a plan"),
    "revised_plan": ("提出修订方案", "Propose a revised plan"),
    "customer_decision": ("等待客户答复", "The customer's answer"),
    "callback": ("满意度回访", "Satisfaction callback"),
}


def next_due(t: Any, code: str | None) -> str:
    """rectification's ``next_due_what``: ``action:<n>`` or one of :data:`NEXT_DUE`."""
    if not code:
        return ""
    if code.startswith("action:"):
        number = code.removeprefix("action:")
        return t(f"措施 {number}", f"Action {number}")
    names = NEXT_DUE.get(code)
    return t(*names) if names else code


def seconds_left(value: str | datetime | None) -> float | None:
    """Seconds from now until ``value`` (negative: past)."""
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


def text(form: Any, name: str) -> str | None:
    """A form field, stripped; ``None`` when missing or blank."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


TEMPLATES.env.globals["label"] = label
TEMPLATES.env.globals["seconds_left"] = seconds_left
TEMPLATES.env.globals["next_due"] = next_due
TEMPLATES.env.globals["csc_labels"] = LABELS
