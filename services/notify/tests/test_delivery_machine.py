"""The delivery and subscription state machines: their tables and aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from tousu_notify.domain.delivery import (
    DELIVERY_TRANSITIONS,
    Claim,
    Delivery,
    DeliveryAction,
    IllegalDeliveryTransition,
    Outcome,
    RetryPolicy,
    next_status,
)
from tousu_notify.domain.model import DeliveryStatus
from tousu_notify.domain.webhooks import (
    SUBSCRIPTION_TRANSITIONS,
    IllegalSubscriptionTransition,
    SubscriptionAction,
    SubscriptionState,
    SubscriptionStatus,
)

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, backoff_base_s=10, backoff_max_s=60)


@dataclass
class Row:
    id: UUID
    status: str
    channel: str = "email"
    language: str = "zh"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    updated_at: datetime = NOW
    last_error: str | None = None
    masked_recipient: str | None = None
    response_status: int | None = None


def row(status: DeliveryStatus, **fields: object) -> Row:
    return Row(uuid4(), status.value, **fields)  # type: ignore[arg-type]


def claim_of(record: Row) -> Claim:
    return Claim(
        record.id, record.attempts, False, "e", "t", uuid4(), None, "closed", "email",
        "customer", "customer", None, "zh", {}, None,
    )  # fmt: skip


@pytest.mark.parametrize("status", list(DeliveryStatus))
@pytest.mark.parametrize("action", list(DeliveryAction))
def test_every_move_is_the_tables(status: DeliveryStatus, action: DeliveryAction) -> None:
    target = DELIVERY_TRANSITIONS.get((status, action))
    if target is None:
        with pytest.raises(IllegalDeliveryTransition):
            next_status(status, action)
    else:
        assert next_status(status, action) is target


def test_finished_deliveries_never_move_except_an_operators_retry() -> None:
    for status in (DeliveryStatus.sent, DeliveryStatus.cancelled):
        assert not [a for (s, a) in DELIVERY_TRANSITIONS if s is status]
    assert {a for (s, a) in DELIVERY_TRANSITIONS if s is DeliveryStatus.failed} == {
        DeliveryAction.retry
    }


def test_claim_sent_and_a_stale_claim_taken_over() -> None:
    record = row(DeliveryStatus.pending, next_attempt_at=NOW)
    delivery = Delivery(record)
    assert delivery.claim(NOW) is False
    assert (record.status, record.attempts, record.claimed_at) == ("sending", 1, NOW)
    assert delivery.claim(NOW) is True  # the first worker died mid-send
    assert record.attempts == 2 and "outcome unknown" in (record.last_error or "")
    assert delivery.owned_by(claim_of(record))
    delivery.record_outcome(Outcome(DeliveryStatus.sent, "sms", "en", "****1234", 200), NOW)
    assert (record.status, record.channel, record.sent_at, record.last_error) == (
        "sent", "sms", NOW, None,
    )  # fmt: skip
    with pytest.raises(IllegalDeliveryTransition):
        delivery.claim(NOW)


def test_a_failure_retries_with_backoff_then_gives_up() -> None:
    record = row(DeliveryStatus.pending)
    delivery = Delivery(record)
    delivery.claim(NOW)
    failed = dict(response_status=503, permanent=False, cancelled=False, policy=POLICY)
    assert delivery.attempt_failed(NOW, error="down", **failed) is DeliveryStatus.pending  # type: ignore[arg-type]
    assert record.next_attempt_at == NOW + timedelta(seconds=10)
    record.attempts = 3
    record.status = DeliveryStatus.sending.value
    assert delivery.attempt_failed(NOW, error="down", **failed) is DeliveryStatus.failed  # type: ignore[arg-type]
    assert record.next_attempt_at is None and record.last_error == "down"


def test_a_permanent_failure_gives_up_and_a_disabled_webhook_cancels() -> None:
    record = row(DeliveryStatus.sending, attempts=1)
    status = Delivery(record).attempt_failed(
        NOW, error="5xx", response_status=550, permanent=True, cancelled=False, policy=POLICY
    )
    assert status is DeliveryStatus.failed
    record = row(DeliveryStatus.sending, attempts=1)
    status = Delivery(record).attempt_failed(
        NOW, error="410", response_status=410, permanent=True, cancelled=True, policy=POLICY
    )
    assert status is DeliveryStatus.cancelled


def test_an_operator_retries_failed_or_skipped_only_with_the_apis_message() -> None:
    record = row(DeliveryStatus.failed, attempts=5)
    Delivery(record).retry(NOW, by="csc-1")
    assert (record.status, record.attempts, record.next_attempt_at, record.last_error) == (
        "pending", 0, NOW, "retry requested by csc-1",
    )  # fmt: skip
    record = row(DeliveryStatus.sent)
    with pytest.raises(IllegalDeliveryTransition) as refused:
        Delivery(record).retry(NOW, by="csc-1")
    assert refused.value.message == f"notification {record.id} is sent, not failed or skipped"
    assert refused.value.status_code == 409 and refused.value.code == "conflict"


@dataclass
class Sub:
    active: bool = True
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    updated_at: datetime = NOW


def test_the_subscription_table_switches_on_and_off() -> None:
    assert (
        SUBSCRIPTION_TRANSITIONS[(SubscriptionStatus.disabled, SubscriptionAction.enable)]
        is SubscriptionStatus.enabled
    )
    with pytest.raises(IllegalSubscriptionTransition):
        SubscriptionState(Sub(active=False))._move(SubscriptionAction.disable_automatically)
    sub = Sub(consecutive_failures=2, failing_since=NOW)
    state = SubscriptionState(sub)
    state.disable(NOW, by="mgr")
    assert (sub.active, sub.disabled_reason) == (False, "disabled by mgr")
    state.enable(NOW)
    assert (sub.active, sub.consecutive_failures, sub.failing_since) == (True, 0, None)


def test_failures_disable_a_webhook_automatically() -> None:
    sub = Sub()
    state = SubscriptionState(sub)
    assert state.delivery_failed(NOW, after_failures=2, after_s=3600) is None
    assert state.delivery_failed(NOW, after_failures=2, after_s=3600) == (
        "2 consecutive failed deliveries"
    )
    assert not sub.active
    assert sub.disabled_reason == "disabled automatically: 2 consecutive failed deliveries"
