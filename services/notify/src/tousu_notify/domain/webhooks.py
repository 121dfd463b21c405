"""A subscription's on/off state machine: :data:`SUBSCRIPTION_TRANSITIONS` is the
whole of it; :class:`SubscriptionState` is the only code that switches ``active``.

::

    enabled ──disable (by hand)──────────────▶ disabled
    enabled ──disable_automatically (failures)─▶ disabled
    disabled ──enable──▶ enabled (failure count reset)

Enabling an enabled subscription resets its failure count; disabling a disabled
one records the new reason (both as the API always did). A failing webhook is
switched off after ``webhook_disable_after_failures`` failed deliveries in a
row, or once it has failed without a success for ``webhook_disable_after_s``
(:func:`should_disable_webhook`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from tousu_common.domain_errors import Conflict


class SubscriptionStatus(StrEnum):
    enabled = "enabled"  # ``active`` true: events are planned for it
    disabled = "disabled"  # ``active`` false: by hand, or by failures


class SubscriptionAction(StrEnum):
    enable = "enable"
    disable = "disable"  # by hand
    disable_automatically = "disable_automatically"  # too many failures


E, D = SubscriptionStatus.enabled, SubscriptionStatus.disabled
SA = SubscriptionAction

#: (from-status, action) → to-status: every legal move.
SUBSCRIPTION_TRANSITIONS: Mapping[
    tuple[SubscriptionStatus, SubscriptionAction], SubscriptionStatus
] = MappingProxyType(
    {
        (E, SA.enable): E,
        (D, SA.enable): E,
        (E, SA.disable): D,
        (D, SA.disable): D,
        (E, SA.disable_automatically): D,
    }
)


class IllegalSubscriptionTransition(Conflict):
    """An action the table does not allow in the subscription's state; a 409."""

    def __init__(self, status: SubscriptionStatus, action: SubscriptionAction) -> None:
        super().__init__(f"a subscription cannot {action.value.replace('_', ' ')} while {status}")
        self.status = status
        self.action = action


class SubscriptionRecord(Protocol):
    """The fields of a subscription the state machine reads and writes."""

    active: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    updated_at: datetime


def should_disable_webhook(
    consecutive_failures: int,
    failing_for_s: float,
    *,
    after_failures: int,
    after_s: float,
) -> str | None:
    """Why a webhook subscription should be switched off now, or None."""
    if consecutive_failures >= after_failures:
        return f"{consecutive_failures} consecutive failed deliveries"
    if failing_for_s >= after_s:
        return f"failing without a success for {int(failing_for_s)} s"
    return None


class SubscriptionState:
    """One subscription's on/off state and failure count, over its record's fields."""

    def __init__(self, record: SubscriptionRecord) -> None:
        self.record = record

    @property
    def status(self) -> SubscriptionStatus:
        return E if self.record.active else D

    def _move(self, action: SubscriptionAction) -> SubscriptionStatus:
        target = SUBSCRIPTION_TRANSITIONS.get((self.status, action))
        if target is None:
            raise IllegalSubscriptionTransition(self.status, action)
        self.record.active = target is E
        return target

    def enable(self, now: datetime) -> None:
        """Back on, failures forgotten."""
        self._move(SA.enable)
        record = self.record
        record.disabled_reason = None
        record.disabled_at = None
        record.consecutive_failures = 0
        record.failing_since = None
        record.updated_at = now

    def disable(self, now: datetime, *, by: str) -> None:
        """Switched off by hand."""
        self._disable(SA.disable, f"disabled by {by}", now)

    def _disable(self, action: SubscriptionAction, reason: str, now: datetime) -> None:
        self._move(action)
        self.record.disabled_reason = reason
        self.record.disabled_at = now
        self.record.updated_at = now

    def delivery_failed(self, now: datetime, *, after_failures: int, after_s: float) -> str | None:
        """Count a failed delivery; the reason if that switched the subscription off."""
        record = self.record
        record.consecutive_failures += 1
        record.failing_since = record.failing_since or now
        reason = should_disable_webhook(
            record.consecutive_failures,
            (now - record.failing_since).total_seconds(),
            after_failures=after_failures,
            after_s=after_s,
        )
        if reason is not None:
            self._disable(SA.disable_automatically, f"disabled automatically: {reason}", now)
        return reason


__all__ = [
    "SUBSCRIPTION_TRANSITIONS",
    "IllegalSubscriptionTransition",
    "SubscriptionAction",
    "SubscriptionRecord",
    "SubscriptionState",
    "SubscriptionStatus",
    "should_disable_webhook",
]
