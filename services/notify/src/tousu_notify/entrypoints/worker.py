"""The delivery worker: sends due deliveries, retries with backoff, gives up with
``notification.failed``; ``notification.sent`` on success (both via the outbox).

How a row moves: ``pending`` → claimed (``sending``, attempts + 1, committed
*before* the attempt) → ``sent`` | ``pending`` again with ``next_attempt_at``
| ``failed`` after the last attempt | ``skipped`` (nobody to send to) |
``cancelled`` (its subscription went away).

On PostgreSQL the claim reads due rows ``FOR UPDATE SKIP LOCKED``, so several
replicas never claim the same row; on SQLite one process owns the file.

The at-least-once window: SMTP has no idempotency. If the process dies after
the far side accepted a message but before ``sent`` is committed, the row
stays ``sending``; after ``delivery_stale_after_s`` it is attempted again — a
duplicate, but never a loss. The retry carries the same ``Message-ID`` (mail),
``Idempotency-Key`` (SMS gateway) and ``Tousu-Delivery-Id`` (webhooks), so the
far side can drop it. The window runs from the server's answer to the commit
of the batch's outcomes (one transaction, once every attempt of the batch has
returned: at most the channel timeouts, usually tens of milliseconds); a worker
that is merely slow does not reach it as long as an attempt is shorter than the
stale limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tousu_common import metrics
from tousu_common.db import Database, is_sqlite
from tousu_common.events import new_event
from tousu_common.events.catalog import NotificationFailed, NotificationSent
from tousu_common.logs import event_context
from tousu_common.messaging.outbox import add_event
from tousu_common.tracing import child_span
from tousu_notify.adapters.clients import (
    ContactDirectory,
    CustomerContact,
    DeliveryError,
    Mailer,
    SmsGateway,
    WebhookClient,
)
from tousu_notify.adapters.orm import DeliveryRow, SubscriptionRow
from tousu_notify.adapters.repository import DELIVERIES_ADDED, DeliveryRepository
from tousu_notify.adapters.templates import Templates
from tousu_notify.config import Settings
from tousu_notify.domain.model import (
    DeliveryChannel,
    DeliveryStatus,
    RecipientKind,
    Template,
    backoff_delay,
    console_link,
    mask_address,
    should_disable_webhook,
)

log = logging.getLogger(__name__)

#: A Message-ID fit to be answered in a header: visible ASCII only (no spaces, no
#: line breaks, nothing a header would have to encode).
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,500}>")
_random = secrets.SystemRandom()


@dataclass(frozen=True)
class Claim:
    """A row as it was claimed (the attempt works from this, not from a live row)."""

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
    status: DeliveryStatus
    channel: str
    language: str
    masked_recipient: str | None = None
    response_status: int | None = None
    note: str | None = None


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(follow_redirects=False)
        self.templates = templates or Templates(settings.timezone)
        self.contacts = ContactDirectory(settings, self.http)
        self.mailer = Mailer(settings)
        self.sms = SmsGateway(settings, self.http)
        self.webhooks = WebhookClient(settings, self.http)
        self._lock_rows = not is_sqlite(db.url)
        self._wake = asyncio.Event()
        db.on_commit(self._wake_if_added)
        # httpx logs every request URL at INFO; a webhook URL may embed the
        # receiver's own secret, so only its warnings reach notify's log.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))

    def _wake_if_added(self, session: AsyncSession) -> None:
        if session.info.pop(DELIVERIES_ADDED, False):
            self._wake.set()

    async def close(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def run(self) -> None:
        """Send forever; a database hiccup is logged and retried, never fatal."""
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery worker failed, retrying", extra={"error": repr(exc)})
                done = 0
            if done < self.settings.delivery_batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), self.settings.delivery_poll_interval_s
                    )
                self._wake.clear()

    async def run_once(self) -> int:
        """Claim what is due and attempt it; returns how many rows were attempted."""
        claims = await self.claim()
        if claims:
            contacts = await self.prefetch_customers(claims)
            results = await asyncio.gather(*(self.attempt(claim, contacts) for claim in claims))
            await self.record(list(zip(claims, results, strict=True)))
        return len(claims)

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

    # -- claiming ---------------------------------------------------------------

    async def claim(self) -> list[Claim]:
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=self.settings.delivery_stale_after_s)
        query = (
            sa.select(DeliveryRow)
            .where(
                sa.or_(
                    sa.and_(
                        DeliveryRow.status == DeliveryStatus.pending.value,
                        DeliveryRow.next_attempt_at <= now,
                    ),
                    sa.and_(
                        DeliveryRow.status == DeliveryStatus.sending.value,
                        DeliveryRow.claimed_at < stale_before,
                    ),
                )
            )
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(self.settings.delivery_batch_size)
        )
        if self._lock_rows:
            query = query.with_for_update(skip_locked=True)
        claims = []
        async with self.db.transaction() as session:
            # A failing webhook gets one delivery at a time (a probe, as a circuit
            # breaker's half-open state): sent side by side, deliveries already in
            # flight would overshoot `webhook_disable_after_failures`.
            failing = set(
                await session.scalars(
                    sa.select(SubscriptionRow.id).where(SubscriptionRow.consecutive_failures > 0)
                )
            )
            probing: set[UUID] = set()
            for row in await session.scalars(query):
                if row.subscription_id in failing:
                    if row.subscription_id in probing:
                        continue
                    probing.add(row.subscription_id)
                was_stale = row.status == DeliveryStatus.sending.value
                row.status = DeliveryStatus.sending.value
                row.attempts += 1
                row.claimed_at = now
                row.updated_at = now
                if was_stale:
                    row.last_error = "previous attempt's outcome unknown (worker stopped mid-send)"
                claims.append(
                    Claim(
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
                )
        return claims

    # -- one attempt ------------------------------------------------------------

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
            async with self.db.sessions() as session:
                subscription = await session.get(SubscriptionRow, claim.subscription_id)
            if subscription is None or not subscription.active:
                return Outcome(
                    DeliveryStatus.cancelled,
                    claim.channel,
                    claim.language,
                    note="subscription deleted"
                    if subscription is None
                    else "subscription disabled",
                )
        if claim.channel == DeliveryChannel.webhook.value:
            if not (subscription is not None and subscription.url and subscription.secret):
                raise RuntimeError("a webhook delivery without a subscription url and secret")
            body = json.dumps(
                claim.context["cloudevent"], ensure_ascii=False, separators=(",", ":")
            ).encode()
            status = await self.webhooks.post(
                subscription.url,
                body,
                secret=subscription.secret,
                delivery_id=str(claim.id),
                event_type=claim.event_type,
            )
            return Outcome(
                DeliveryStatus.sent,
                claim.channel,
                claim.language,
                masked_recipient=mask_address(subscription.url),
                response_status=status,
            )

        context = {**claim.context, "recipient_kind": claim.recipient_kind}
        context.setdefault("reference", claim.reference)
        language = claim.language
        email: str | None = None
        phone: str | None = None
        kind = claim.recipient_kind
        answers: str | None = None
        if kind == RecipientKind.customer.value:
            contact = (contacts or {}).get(claim.complaint_id) or await self.contacts.customer(
                claim.complaint_id
            )
            context.update(
                customer_name=contact.customer_name,
                tracking_url=contact.tracking_url,
                reference=contact.reference or context["reference"],
            )
            language = contact.language or language
            email = contact.email
            phone = contact.phone if self.sms.configured else None
            answers = contact.email_message_id
        elif kind == RecipientKind.supplier.value:
            contact = await self.contacts.supplier(str(context.get("rectification_id")))
            context.update(
                supplier_name=contact.supplier_name or context.get("supplier_name"),
                response_url=contact.response_url,
            )
            language = contact.language or language
            email = contact.email
        elif subscription is not None:
            if subscription.channel == DeliveryChannel.sms.value:
                phone = subscription.address
            else:
                email = subscription.address
        else:  # a department or its manager, from configuration
            _, _, rest = claim.recipient_key.partition(":")
            department, _, via = rest.partition(":")
            contact = self.settings.department_contacts.get(department)
            prefix = "manager_" if kind == RecipientKind.manager.value else ""
            if via == "sms":
                phone = getattr(contact, f"{prefix}phone", None) if contact else None
            else:
                email = getattr(contact, f"{prefix}email", None) if contact else None
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
            rendered = self.templates.render(claim.template, language, context)
            message = await self._email(claim, email, rendered, context, answers=answers)
            await self.mailer.send(message)
            return Outcome(
                DeliveryStatus.sent,
                DeliveryChannel.email.value,
                rendered.language,
                masked_recipient=mask_address(email),
            )
        if phone:
            rendered = self.templates.render(claim.template, language, context)
            status = await self.sms.send(phone, rendered.sms, idempotency_key=str(claim.id))
            return Outcome(
                DeliveryStatus.sent,
                DeliveryChannel.sms.value,
                rendered.language,
                masked_recipient=mask_address(phone),
                response_status=status,
            )
        return Outcome(
            DeliveryStatus.skipped,
            claim.channel,
            language,
            note=_nobody(kind, claim.recipient_key, self.sms.configured),
        )

    async def _email(
        self,
        claim: Claim,
        address: str,
        rendered: Any,
        context: dict[str, Any],
        *,
        answers: str | None = None,
    ) -> EmailMessage:
        """``answers``: the customer's own Message-ID when the complaint came by mail —
        our mail is a reply to it (RFC 5322 In-Reply-To / References)."""
        message = EmailMessage()
        message["Subject"] = rendered.subject
        message["From"] = self.settings.mail_from
        message["To"] = address
        message["Date"] = format_datetime(datetime.now(UTC))
        if claim.message_id:
            message["Message-ID"] = claim.message_id
        if answers and _MESSAGE_ID.fullmatch(answers):
            message["In-Reply-To"] = answers
            message["References"] = answers
        if claim.recipient_kind == RecipientKind.customer.value:
            message["Reply-To"] = self.settings.mail_reply_to
        if claim.reference:
            message["X-Tousu-Reference"] = claim.reference
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        if claim.template == Template.digest_published.value and self.settings.digest_attach_html:
            try:
                report = await self.contacts.fetch_report(str(context.get("url")))
            except DeliveryError as exc:
                log.warning("digest report not attached", extra={"error": exc.message})
            else:
                message.add_attachment(
                    report.decode("utf-8", errors="replace"),
                    subtype="html",
                    filename=f"digest-{context.get('period', 'report')}.html",
                )
        return message

    # -- recording --------------------------------------------------------------

    async def record(self, results: list[tuple[Claim, Outcome | DeliveryError]]) -> None:
        """Record a batch's outcomes in one transaction.

        On SQLite every writer of the process queues for one lock: a transaction
        per message put twenty turns per batch ahead of the consumer's. If the
        batch transaction fails, each outcome is recorded on its own, so one bad
        row does not leave the others ``sending`` (and sent again later)."""
        try:
            async with self.db.transaction() as session:
                after = [await self._record_in(session, claim, result) for claim, result in results]
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
        async with self.db.transaction() as session:
            done = await self._record_in(session, claim, result)
        done()

    async def _record_in(
        self, session: AsyncSession, claim: Claim, result: Outcome | DeliveryError
    ) -> Callable[[], None]:
        """Write one outcome in ``session``; returns what to do once it has committed
        (count and log it). The cause's trace carries on into the events staged here."""
        with (
            event_context(event_id=claim.source_event_id, complaint_id=str(claim.complaint_id)),
            child_span(f"record {claim.channel}", claim.context.get("traceparent")),
        ):
            if isinstance(result, DeliveryError):
                return await self._failure_in(session, claim, result)
            return await self._outcome_in(session, claim, result)

    async def _outcome_in(
        self, session: AsyncSession, claim: Claim, outcome: Outcome
    ) -> Callable[[], None]:
        now = datetime.now(UTC)
        row = await self._own_row(session, claim)
        if row is None:
            return _nothing
        row.status = outcome.status.value
        row.channel = outcome.channel
        row.language = outcome.language
        row.masked_recipient = outcome.masked_recipient or row.masked_recipient
        row.response_status = outcome.response_status
        row.updated_at = now
        row.next_attempt_at = None
        if outcome.status is DeliveryStatus.sent:
            row.sent_at = now
            row.last_error = None
            await add_event(session, self._event(NotificationSent, row, now))
            if row.channel == DeliveryChannel.webhook.value:
                await self._webhook_succeeded(session, row)
        else:
            row.last_error = outcome.note

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
        self, session: AsyncSession, claim: Claim, error: DeliveryError
    ) -> Callable[[], None]:
        now = datetime.now(UTC)
        s = self.settings
        give_up = error.permanent or claim.attempts >= s.delivery_max_attempts
        failed, failed_on = False, None
        row = await self._own_row(session, claim)
        if row is None:
            return _nothing
        row.last_error = error.message[:2000]
        row.response_status = error.status
        row.updated_at = now
        disabled = False
        if row.channel == DeliveryChannel.webhook.value:
            disabled = await self._webhook_failed(session, row, now)
        if disabled:
            row.status = DeliveryStatus.cancelled.value
            row.next_attempt_at = None
        elif give_up:
            row.status = DeliveryStatus.failed.value
            row.next_attempt_at = None
            failed, failed_on = True, row.channel
            await add_event(
                session, self._event(NotificationFailed, row, now, error=error.message[:2000])
            )
        else:
            row.status = DeliveryStatus.pending.value
            delay = backoff_delay(
                claim.attempts,
                base_s=s.delivery_backoff_base_s,
                max_s=s.delivery_backoff_max_s,
                jitter=_random.uniform(0.9, 1.1),
            )
            row.next_attempt_at = now + timedelta(seconds=delay)

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
                    "gave_up": give_up,
                    "error": error.message,
                },
            )

        return done

    async def _own_row(self, session: AsyncSession, claim: Claim) -> DeliveryRow | None:
        """The row, if this claim still owns it (not re-claimed as stale meanwhile)."""
        query = sa.select(DeliveryRow).where(DeliveryRow.id == claim.id)
        if self._lock_rows:
            query = query.with_for_update()
        row = await session.scalar(query)
        if (
            row is None
            or row.status != DeliveryStatus.sending.value
            or row.attempts != claim.attempts
        ):
            log.warning(
                "delivery claim lost, outcome not recorded", extra={"delivery_id": str(claim.id)}
            )
            return None
        return row

    def _event(self, model: type, row: DeliveryRow, now: datetime, **extra: Any):  # type: ignore[no-untyped-def]
        return new_event(
            model(
                complaint_id=row.complaint_id,
                notification_id=row.id,
                template=row.template,
                delivery_channel=row.channel,
                recipient_kind=row.recipient_kind,
                source_event_id=row.source_event_id,
                attempts=max(row.attempts, 1),
                at=now,
                **extra,
            ),
            source="tousu/notify",
        )

    async def _webhook_succeeded(self, session: AsyncSession, row: DeliveryRow) -> None:
        await session.execute(
            sa.update(SubscriptionRow)
            .where(SubscriptionRow.id == row.subscription_id)
            .values(consecutive_failures=0, failing_since=None)
        )

    async def _webhook_failed(self, session: AsyncSession, row: DeliveryRow, now: datetime) -> bool:
        """Count the failure against the subscription; True if it is now disabled."""
        query = sa.select(SubscriptionRow).where(SubscriptionRow.id == row.subscription_id)
        if self._lock_rows:
            query = query.with_for_update()
        subscription = await session.scalar(query)
        if subscription is None or not subscription.active:
            return subscription is not None
        subscription.consecutive_failures += 1
        subscription.failing_since = subscription.failing_since or now
        reason = should_disable_webhook(
            subscription.consecutive_failures,
            (now - subscription.failing_since).total_seconds(),
            after_failures=self.settings.webhook_disable_after_failures,
            after_s=self.settings.webhook_disable_after_s,
        )
        if reason is None:
            return False
        subscription.active = False
        subscription.disabled_reason = f"disabled automatically: {reason}"
        subscription.disabled_at = now
        subscription.updated_at = now
        await DeliveryRepository(session).cancel_open_for_subscription(
            subscription.id, "subscription disabled", now
        )
        log.warning(
            "webhook subscription disabled",
            extra={"subscription_id": str(subscription.id), "reason": reason},
        )
        return True


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
