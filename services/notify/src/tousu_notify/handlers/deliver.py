"""The steps of sending a delivery, each small: claim → resolve the recipient →
render → send (the channel's :class:`~tousu_notify.adapters.senders.Sender`) →
record. The worker (``entrypoints/worker.py``) runs them in a loop.

Claiming and recording each run in a unit of work, and every status change
goes through :class:`~tousu_notify.domain.delivery.Delivery` (the webhook
failure count through :class:`~tousu_notify.domain.webhooks.SubscriptionState`).

The at-least-once window: SMTP has no idempotency. If the process dies after
the far side accepted a message but before ``sent`` is committed, the row
stays ``sending``; after ``delivery_stale_after_s`` it is claimed again — a
duplicate, but never a loss. The retry carries the same ``Message-ID`` (mail),
``Idempotency-Key`` (SMS gateway) and ``Tousu-Delivery-Id`` (webhooks), so the
far side can drop it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tousu_common import metrics
from tousu_common.db import Database
from tousu_common.events.catalog import NotificationFailed, NotificationSent
from tousu_common.logs import event_context
from tousu_common.tracing import child_span
from tousu_notify.adapters.clients import ContactDirectory, CustomerContact, DeliveryError
from tousu_notify.adapters.orm import SubscriptionRow
from tousu_notify.adapters.repository import LoadedDelivery
from tousu_notify.adapters.senders import Sender
from tousu_notify.adapters.templates import Rendered, Templates
from tousu_notify.adapters.unit_of_work import NotifyUnitOfWork, reading, unit_of_work
from tousu_notify.config import Settings
from tousu_notify.domain.delivery import (
    Claim,
    Delivery,
    Outcome,
    Recipient,
    RetryPolicy,
)
from tousu_notify.domain.model import (
    DeliveryChannel,
    DeliveryStatus,
    RecipientKind,
    Template,
    console_link,
    mask_address,
)
from tousu_notify.domain.webhooks import SubscriptionState

log = logging.getLogger(__name__)

_random = secrets.SystemRandom()


class DeliverySteps:
    """What the worker does with deliveries, one step per method."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        templates: Templates,
        contacts: ContactDirectory,
        senders: Mapping[DeliveryChannel, Sender],
        sms_configured: Callable[[], bool],
    ) -> None:
        self.db = db
        self.settings = settings
        self.templates = templates
        self.contacts = contacts
        self.senders = senders
        self.sms_configured = sms_configured
        self.policy = RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            backoff_base_s=settings.delivery_backoff_base_s,
            backoff_max_s=settings.delivery_backoff_max_s,
        )

    # -- claim ------------------------------------------------------------------

    async def claim(self) -> list[Claim]:
        """Take what is due (pending, or stale in ``sending``), committed before any attempt."""
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=self.settings.delivery_stale_after_s)
        claims = []
        async with unit_of_work(self.db) as uow:
            # A failing webhook gets one delivery at a time (a probe, as a circuit
            # breaker's half-open state): sent side by side, deliveries already in
            # flight would overshoot `webhook_disable_after_failures`.
            probing: set[UUID | None] = set()
            due = await uow.deliveries.due(
                now, stale_before=stale_before, limit=self.settings.delivery_batch_size
            )
            claimed = []
            for row in due:
                if row.subscription_failing:
                    if row.subscription_id in probing:
                        continue
                    probing.add(row.subscription_id)
                was_stale = Delivery(row).claim(now)
                claimed.append(row)
                claims.append(_claim_of(row, was_stale))
            await uow.deliveries.save(claimed)
        return claims

    async def prefetch_customers(self, claims: list[Claim]) -> dict[UUID, CustomerContact]:
        """The customers' contacts of a claimed batch, in one request to intake.

        One HTTP request per message was a quarter of notify's busy time under
        load. Read at claim time, as the one-by-one read was at attempt time;
        nothing is kept after the batch. If the batch read fails, each attempt
        reads its own contact (and fails or retries as it always did)."""
        ids = list(
            dict.fromkeys(
                c.complaint_id
                for c in claims
                if c.recipient_kind == RecipientKind.customer.value and c.subscription_id is None
            )
        )
        if len(ids) < 2:
            return {}
        try:
            return await self.contacts.customers(ids)
        except DeliveryError as exc:
            log.warning("batch contact read failed, reading one by one", extra={"error": str(exc)})
            return {}

    # -- one attempt: resolve → render → send -------------------------------------

    async def attempt(
        self, claim: Claim, contacts: Mapping[UUID, CustomerContact] | None = None
    ) -> Outcome | DeliveryError:
        """Try one delivery; what happened, to be recorded with the rest of its batch."""
        with (
            event_context(event_id=claim.source_event_id, complaint_id=str(claim.complaint_id)),
            child_span(f"deliver {claim.channel}", claim.context.get("traceparent")),
        ):
            try:
                return await self.deliver(claim, contacts or {})
            except DeliveryError as exc:
                return exc
            except Exception as exc:  # a bug or an unexpected answer: retried like any failure
                log.exception("delivery attempt crashed", extra={"delivery_id": str(claim.id)})
                return DeliveryError(f"internal error: {type(exc).__name__}")

    async def deliver(
        self, claim: Claim, contacts: Mapping[UUID, CustomerContact] | None = None
    ) -> Outcome:
        subscription = None
        if claim.subscription_id is not None:
            async with reading(self.db) as uow:
                subscription = await uow.subscriptions.get(claim.subscription_id)
            if subscription is None or not subscription.active:
                return Outcome(
                    DeliveryStatus.cancelled,
                    claim.channel,
                    claim.language,
                    note="subscription deleted"
                    if subscription is None
                    else "subscription disabled",
                )
        recipient = await self.resolve(claim, subscription, contacts or {})
        if recipient.address is None:
            return Outcome(
                DeliveryStatus.skipped, claim.channel, recipient.language, note=recipient.note
            )
        sender = self.senders[DeliveryChannel(recipient.channel)]
        rendered = self.render(claim, recipient) if sender.renders else None
        status = await sender.send(claim, recipient, rendered)
        return Outcome(
            DeliveryStatus.sent,
            recipient.channel,
            rendered.language if rendered is not None else recipient.language,
            masked_recipient=mask_address(recipient.address),
            response_status=status,
        )

    async def resolve(
        self,
        claim: Claim,
        subscription: SubscriptionRow | None,
        contacts: Mapping[UUID, CustomerContact],
    ) -> Recipient:
        """The channel and address to use, read now (events carry no personal data):
        a webhook's url; a customer's or supplier's contact from intake or
        rectification (e-mail first, else SMS if a gateway is configured); a
        subscriber's address; a department's from configuration."""
        if claim.channel == DeliveryChannel.webhook.value:
            if not (subscription is not None and subscription.url and subscription.secret):
                raise RuntimeError("a webhook delivery without a subscription url and secret")
            return Recipient(
                channel=claim.channel,
                address=subscription.url,
                language=claim.language,
                context=claim.context,
                secret=subscription.secret,
            )
        context: dict[str, Any] = {**claim.context, "recipient_kind": claim.recipient_kind}
        context.setdefault("reference", claim.reference)
        language = claim.language
        email: str | None = None
        phone: str | None = None
        kind = claim.recipient_kind
        answers: str | None = None
        if kind == RecipientKind.customer.value:
            contact = contacts.get(claim.complaint_id) or await self.contacts.customer(
                claim.complaint_id
            )
            context.update(
                customer_name=contact.customer_name,
                tracking_url=contact.tracking_url,
                reference=contact.reference or context["reference"],
            )
            language = contact.language or language
            email = contact.email
            phone = contact.phone if self.sms_configured() else None
            answers = contact.email_message_id
        elif kind == RecipientKind.supplier.value:
            supplier = await self.contacts.supplier(str(context.get("rectification_id")))
            context.update(
                supplier_name=supplier.supplier_name or context.get("supplier_name"),
                response_url=supplier.response_url,
            )
            language = supplier.language or language
            email = supplier.email
        elif subscription is not None:
            if subscription.channel == DeliveryChannel.sms.value:
                phone = subscription.address
            else:
                email = subscription.address
        else:  # a department or its manager, from configuration
            _, _, rest = claim.recipient_key.partition(":")
            department, _, via = rest.partition(":")
            configured = self.settings.department_contacts.get(department)
            prefix = "manager_" if kind == RecipientKind.manager.value else ""
            if via == "sms":
                phone = getattr(configured, f"{prefix}phone", None) if configured else None
            else:
                email = getattr(configured, f"{prefix}email", None) if configured else None
        if claim.template == Template.digest_published.value:
            context.setdefault("attached", False)
        # Set at send time from today's console_url: rows planned before a change get the new one.
        context["console_link"] = console_link(
            self.settings.console_url,
            template=claim.template,
            recipient_kind=kind,
            complaint_id=claim.complaint_id,
        )
        if email:
            channel, address = DeliveryChannel.email.value, email
        elif phone:
            channel, address = DeliveryChannel.sms.value, phone
        else:
            return Recipient(
                channel=claim.channel,
                address=None,
                language=language,
                context=context,
                note=_nobody(kind, claim.recipient_key, self.sms_configured()),
            )
        return Recipient(
            channel=channel, address=address, language=language, context=context, answers=answers
        )

    def render(self, claim: Claim, recipient: Recipient) -> Rendered:
        return self.templates.render(claim.template, recipient.language, dict(recipient.context))

    # -- record -----------------------------------------------------------------

    async def record(self, results: list[tuple[Claim, Outcome | DeliveryError]]) -> None:
        """Record a batch's outcomes in one transaction.

        On SQLite every writer of the process queues for one lock: a transaction
        per message put twenty turns per batch ahead of the consumer's. If the
        batch transaction fails, each outcome is recorded on its own, so one bad
        row does not leave the others ``sending`` (and sent again later)."""
        try:
            async with unit_of_work(self.db) as uow:
                after = await self._record_all_in(uow, results)
        except Exception as exc:
            log.warning(
                "recording a batch of outcomes failed, recording them one by one",
                extra={"size": len(results), "error": repr(exc)},
            )
            for claim, result in results:
                await self._record_alone(claim, result)
            return
        for done in after:
            done()

    async def _record_alone(self, claim: Claim, result: Outcome | DeliveryError) -> None:
        async with unit_of_work(self.db) as uow:
            [done] = await self._record_all_in(uow, [(claim, result)])
        done()

    async def _record_all_in(
        self, uow: NotifyUnitOfWork, results: list[tuple[Claim, Outcome | DeliveryError]]
    ) -> list[Callable[[], None]]:
        """Write the outcomes in ``uow``: the claims' rows read (locked) in one statement,
        each changed by its outcome, all written back in one. Returns what to do for each
        once it has committed (count and log it)."""
        rows = await uow.deliveries.get_locked_many(claim.id for claim, _ in results)
        writes = _Writes()
        after = [
            await self._record_in(uow, claim, result, rows.get(claim.id), writes)
            for claim, result in results
        ]
        await uow.deliveries.save(writes.rows)
        for subscription_id in writes.disabled:
            await uow.deliveries.cancel_open_for_subscription(
                subscription_id, "subscription disabled", datetime.now(UTC)
            )
        return after

    async def _record_in(
        self,
        uow: NotifyUnitOfWork,
        claim: Claim,
        result: Outcome | DeliveryError,
        row: LoadedDelivery | None,
        writes: _Writes,
    ) -> Callable[[], None]:
        """Apply one outcome to ``row`` (the claim's row, locked, or None if it is gone)
        and add it to ``writes`` if it was still this claim's; events go to ``uow``'s
        outbox. The cause's trace carries on into the events staged here."""
        with (
            event_context(event_id=claim.source_event_id, complaint_id=str(claim.complaint_id)),
            child_span(f"record {claim.channel}", claim.context.get("traceparent")),
        ):
            row = _own_row(claim, row)
            if row is None:
                return _nothing
            writes.rows.append(row)
            if isinstance(result, DeliveryError):
                return await self._failure_in(uow, claim, result, row, writes)
            return await self._outcome_in(uow, claim, result, row)

    async def _outcome_in(
        self, uow: NotifyUnitOfWork, claim: Claim, outcome: Outcome, row: LoadedDelivery
    ) -> Callable[[], None]:
        now = datetime.now(UTC)
        Delivery(row).record_outcome(outcome, now)
        if outcome.status is DeliveryStatus.sent:
            await uow.publish(_event(NotificationSent, row, now))
            if row.channel == DeliveryChannel.webhook.value and row.subscription_id is not None:
                await uow.subscriptions.reset_failures(row.subscription_id)

        def done() -> None:
            if outcome.status is DeliveryStatus.sent:  # counted once the commit holds
                self._count("sent", outcome.channel)
            log.info(
                "delivery %s",
                outcome.status.value,
                extra={
                    "delivery_id": str(claim.id),
                    "template": claim.template,
                    "channel": outcome.channel,
                    "recipient_kind": claim.recipient_kind,
                    "attempts": claim.attempts,
                },
            )

        return done

    def _count(self, outcome: str, channel: str | None) -> None:
        """notification.sent / notification.failed, by channel (a fixed set)."""
        metrics.child(
            metrics.NOTIFICATIONS, self.settings.service_name, channel or "none", outcome
        ).inc()

    async def _failure_in(
        self,
        uow: NotifyUnitOfWork,
        claim: Claim,
        error: DeliveryError,
        row: LoadedDelivery,
        writes: _Writes,
    ) -> Callable[[], None]:
        now = datetime.now(UTC)
        disabled = False
        if row.channel == DeliveryChannel.webhook.value:
            disabled = await self._webhook_failed(uow, row, now, writes)
        status = Delivery(row).attempt_failed(
            now,
            error=error.message,
            response_status=error.status,
            permanent=error.permanent,
            cancelled=disabled,
            policy=self.policy,
            jitter=_random.uniform(0.9, 1.1),
        )
        failed = status is DeliveryStatus.failed
        gave_up = error.permanent or claim.attempts >= self.policy.max_attempts
        failed_on = row.channel
        if failed:
            await uow.publish(_event(NotificationFailed, row, now, error=error.message[:2000]))

        def done() -> None:
            if failed:  # counted once the commit holds
                self._count("failed", failed_on)
            log.warning(
                "delivery attempt failed",
                extra={
                    "delivery_id": str(claim.id),
                    "template": claim.template,
                    "channel": claim.channel,
                    "attempts": claim.attempts,
                    "gave_up": gave_up,
                    "error": error.message,
                },
            )

        return done

    async def _webhook_failed(
        self, uow: NotifyUnitOfWork, row: LoadedDelivery, now: datetime, writes: _Writes
    ) -> bool:
        """Count the failure against the subscription; True if it is now disabled (its
        open deliveries are cancelled once the batch's rows are written)."""
        if row.subscription_id is None:
            return False
        subscription = await uow.subscriptions.get(row.subscription_id, lock=True)
        if subscription is None or not subscription.active:
            return subscription is not None
        reason = SubscriptionState(subscription).delivery_failed(
            now,
            after_failures=self.settings.webhook_disable_after_failures,
            after_s=self.settings.webhook_disable_after_s,
        )
        if reason is None:
            return False
        writes.disabled.append(subscription.id)
        log.warning(
            "webhook subscription disabled",
            extra={"subscription_id": str(subscription.id), "reason": reason},
        )
        return True


@dataclass
class _Writes:
    """What recording a batch writes once every outcome is applied: the rows it changed,
    then the open deliveries of the subscriptions it disabled are cancelled (after the
    rows, so a delivery of this batch that went back to pending is cancelled too)."""

    rows: list[LoadedDelivery] = field(default_factory=list)
    disabled: list[UUID] = field(default_factory=list)


def _own_row(claim: Claim, row: LoadedDelivery | None) -> LoadedDelivery | None:
    """The row, if this claim still owns it (not re-claimed as stale meanwhile)."""
    if row is None or not Delivery(row).owned_by(claim):
        log.warning(
            "delivery claim lost, outcome not recorded", extra={"delivery_id": str(claim.id)}
        )
        return None
    return row


def _claim_of(row: LoadedDelivery, was_stale: bool) -> Claim:
    return Claim(
        id=row.id,
        attempts=row.attempts,
        was_stale=was_stale,
        source_event_id=row.source_event_id,
        event_type=row.event_type,
        complaint_id=row.complaint_id,
        reference=row.reference,
        template=row.template,
        channel=row.channel,
        recipient_kind=row.recipient_kind,
        recipient_key=row.recipient_key,
        subscription_id=row.subscription_id,
        language=row.language,
        context=dict(row.context or {}),
        message_id=row.message_id,
    )


def _event(model: type, row: LoadedDelivery, now: datetime, **extra: Any) -> Any:
    """notification.sent / notification.failed about ``row``."""
    return model(
        complaint_id=row.complaint_id,
        notification_id=row.id,
        template=row.template,
        delivery_channel=row.channel,
        recipient_kind=row.recipient_kind,
        source_event_id=row.source_event_id,
        attempts=max(row.attempts, 1),
        at=now,
        **extra,
    )


def _nobody(kind: str, key: str, sms_configured: bool) -> str:
    if kind == RecipientKind.customer.value:
        return (
            "no e-mail address or phone number on record"
            if sms_configured
            else "no e-mail address on record (and no SMS gateway configured)"
        )
    if kind == RecipientKind.supplier.value:
        return "no e-mail address on record for the supplier"
    if key.startswith("subscription:"):
        return "the subscription has no address"
    return f"no address configured for {key}"


def _nothing() -> None:
    """After-commit work of an outcome that was not ours to record."""
