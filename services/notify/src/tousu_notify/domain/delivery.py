"""The delivery state machine: one table, :data:`DELIVERY_TRANSITIONS`, says which
action moves a delivery from which status to which. :class:`Delivery` is the only
code that computes a new status; an illegal move raises
:class:`IllegalDeliveryTransition` (a 409).

How a delivery moves::

    (planned) ──▶ pending ──claim──▶ sending ──sent──▶ sent
                    ▲  │               │ ├──skip──▶ skipped ──retry (operator)──▶ pending
                    │  │cancel         │ ├──cancel──▶ cancelled (subscription gone)
                    │  ▼               │ ├──give_up──▶ failed ──retry (operator)──▶ pending
                    │ cancelled        │ └──claim (stale: the worker died mid-send)──▶ sending
                    └──retry_later─────┘

A delivery planned from an event too old to notify about starts ``skipped``
(:func:`initial_status`). Backoff between attempts is :func:`backoff_delay`.

The aggregate works on any object with the row's fields (:class:`DeliveryRecord`),
so the worker and the API change a loaded row through it and nothing else writes
``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol
from uuid import UUID

from tousu_common.domain_errors import Conflict
from tousu_notify.domain.model import DeliveryStatus


class DeliveryAction(StrEnum):
    claim = "claim"  # a worker takes it for an attempt (also a stale claim taken over)
    sent = "sent"  # the far side accepted it
    skip = "skip"  # nobody to send it to
    cancel = "cancel"  # its subscription was disabled or deleted
    retry_later = "retry_later"  # the attempt failed; another one after the backoff
    give_up = "give_up"  # the last attempt failed, or trying again cannot help
    retry = "retry"  # an operator asks for another try after a failure or a skip


S = DeliveryStatus
A = DeliveryAction

#: (from-status, action) → to-status: every legal move, nothing else.
DELIVERY_TRANSITIONS: Mapping[tuple[DeliveryStatus, DeliveryAction], DeliveryStatus] = (
    MappingProxyType(
        {
            (S.pending, A.claim): S.sending,
            (S.pending, A.cancel): S.cancelled,
            (S.sending, A.claim): S.sending,  # stale: the previous attempt's outcome is unknown
            (S.sending, A.sent): S.sent,
            (S.sending, A.skip): S.skipped,
            (S.sending, A.cancel): S.cancelled,
            (S.sending, A.retry_later): S.pending,
            (S.sending, A.give_up): S.failed,
            (S.failed, A.retry): S.pending,
            (S.skipped, A.retry): S.pending,
        }
    )
)

#: Statuses an operator may retry from (derived from the table).
RETRYABLE = frozenset(source for source, action in DELIVERY_TRANSITIONS if action is A.retry)

#: What the last error says after a stale claim is taken over.
STALE_NOTE = "previous attempt's outcome unknown (worker stopped mid-send)"


class IllegalDeliveryTransition(Conflict):
    """An action the table does not allow in the delivery's status; a 409."""

    def __init__(
        self, status: DeliveryStatus, action: DeliveryAction, message: str | None = None
    ) -> None:
        super().__init__(message or f"a delivery cannot {action.value} while {status.value}")
        self.status = status
        self.action = action


def next_status(status: DeliveryStatus | str, action: DeliveryAction) -> DeliveryStatus:
    """The status ``action`` leads to from ``status``, or :class:`IllegalDeliveryTransition`."""
    current = DeliveryStatus(status)
    target = DELIVERY_TRANSITIONS.get((current, action))
    if target is None:
        raise IllegalDeliveryTransition(current, action)
    return target


def initial_status(skip_reason: str | None) -> DeliveryStatus:
    """A planned delivery waits for its attempt, or is recorded as skipped with the reason."""
    return DeliveryStatus.skipped if skip_reason else DeliveryStatus.pending


def backoff_delay(attempts: int, *, base_s: float, max_s: float, jitter: float = 1.0) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: base·2^(n−1), capped."""
    return min(base_s * 2 ** max(attempts - 1, 0), max_s) * jitter


@dataclass(frozen=True)
class RetryPolicy:
    """When to give up and how long to wait between attempts (from settings)."""

    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float


class DeliveryRecord(Protocol):
    """The fields of a delivery the state machine reads and writes (the row has them)."""

    id: UUID
    status: str
    channel: str
    language: str
    attempts: int
    next_attempt_at: datetime | None
    claimed_at: datetime | None
    sent_at: datetime | None
    updated_at: datetime
    last_error: str | None
    masked_recipient: str | None
    response_status: int | None


@dataclass(frozen=True)
class Claim:
    """A delivery as it was claimed (the attempt works from this, not from a live row)."""

    id: UUID
    attempts: int
    was_stale: bool
    source_event_id: str
    event_type: str
    complaint_id: UUID
    reference: str | None
    template: str
    channel: str
    recipient_kind: str
    recipient_key: str
    subscription_id: UUID | None
    language: str
    context: dict[str, Any]
    message_id: str | None


@dataclass(frozen=True)
class Outcome:
    """What an attempt came to when it did not fail: sent, skipped or cancelled."""

    status: DeliveryStatus
    channel: str
    language: str
    masked_recipient: str | None = None
    response_status: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Recipient:
    """Who a claimed delivery goes to, resolved at send time: the channel to use and
    the address on it (``None``: nobody to send to, the delivery is skipped with
    ``note``). ``answers``: the customer's own Message-ID to reply to; ``secret``:
    a webhook's signing secret."""

    channel: str
    address: str | None
    language: str
    context: Mapping[str, Any]
    answers: str | None = None
    secret: str | None = None
    note: str | None = None


#: The action that records each outcome status.
OUTCOME_ACTIONS: Mapping[DeliveryStatus, DeliveryAction] = MappingProxyType(
    {S.sent: A.sent, S.skipped: A.skip, S.cancelled: A.cancel}
)


class Delivery:
    """One delivery's state machine over its record's fields."""

    def __init__(self, record: DeliveryRecord) -> None:
        self.record = record

    @property
    def status(self) -> DeliveryStatus:
        return DeliveryStatus(self.record.status)

    def _move(self, action: DeliveryAction, now: datetime) -> DeliveryStatus:
        target = next_status(self.record.status, action)
        self.record.status = target.value
        self.record.updated_at = now
        return target

    def owned_by(self, claim: Claim) -> bool:
        """Whether ``claim`` still owns the delivery (not re-claimed as stale meanwhile)."""
        return self.status is DeliveryStatus.sending and self.record.attempts == claim.attempts

    def claim(self, now: datetime) -> bool:
        """Take it for an attempt; True if a stale attempt was taken over."""
        was_stale = self.status is DeliveryStatus.sending
        self._move(A.claim, now)
        self.record.attempts += 1
        self.record.claimed_at = now
        if was_stale:
            self.record.last_error = STALE_NOTE
        return was_stale

    def record_outcome(self, outcome: Outcome, now: datetime) -> None:
        """Sent, skipped or cancelled, as the attempt found."""
        action = OUTCOME_ACTIONS.get(outcome.status)
        if action is None:
            raise IllegalDeliveryTransition(self.status, A.sent, f"not an outcome: {outcome}")
        self._move(action, now)
        record = self.record
        record.channel = outcome.channel
        record.language = outcome.language
        record.masked_recipient = outcome.masked_recipient or record.masked_recipient
        record.response_status = outcome.response_status
        record.next_attempt_at = None
        if action is A.sent:
            record.sent_at = now
            record.last_error = None
        else:
            record.last_error = outcome.note

    def attempt_failed(
        self,
        now: datetime,
        *,
        error: str,
        response_status: int | None,
        permanent: bool,
        cancelled: bool,
        policy: RetryPolicy,
        jitter: float = 1.0,
    ) -> DeliveryStatus:
        """Record a failed attempt: cancelled (its webhook was just disabled), failed
        (permanent, or the last attempt), or pending again after the backoff."""
        self.record.last_error = error[:2000]
        self.record.response_status = response_status
        if cancelled:
            action = A.cancel
        elif permanent or self.record.attempts >= policy.max_attempts:
            action = A.give_up
        else:
            action = A.retry_later
        target = self._move(action, now)
        if action is A.retry_later:
            delay = backoff_delay(
                self.record.attempts,
                base_s=policy.backoff_base_s,
                max_s=policy.backoff_max_s,
                jitter=jitter,
            )
            self.record.next_attempt_at = now + timedelta(seconds=delay)
        else:
            self.record.next_attempt_at = None
        return target

    def retry(self, now: datetime, *, by: str) -> None:
        """An operator's retry of a failed or skipped delivery: attempts start again."""
        if self.status not in RETRYABLE:
            raise IllegalDeliveryTransition(
                self.status,
                A.retry,
                f"notification {self.record.id} is {self.status.value}, not failed or skipped",
            )
        self._move(A.retry, now)
        self.record.attempts = 0
        self.record.next_attempt_at = now
        self.record.last_error = f"retry requested by {by}"


__all__ = [
    "DELIVERY_TRANSITIONS",
    "RETRYABLE",
    "Claim",
    "Delivery",
    "DeliveryAction",
    "DeliveryRecord",
    "IllegalDeliveryTransition",
    "Outcome",
    "Recipient",
    "RetryPolicy",
    "backoff_delay",
    "initial_status",
    "next_status",
]
