"""One sender per channel behind one interface, and :func:`build_senders`, the table
the delivery worker picks from. A new channel is a new :class:`Sender` and one
entry in that table.

A sender gets the claimed delivery, its resolved recipient and, for channels
that send a template, the rendered message; it returns the far side's status
code (if it has one) or raises :class:`DeliveryError`.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import httpx

from tousu_notify.adapters.clients import (
    ContactDirectory,
    DeliveryError,
    Mailer,
    SmsGateway,
    WebhookClient,
)
from tousu_notify.adapters.mime import Attachment, ComposedMail, compose
from tousu_notify.adapters.templates import Rendered
from tousu_notify.config import Settings
from tousu_notify.domain.delivery import Claim, Recipient
from tousu_notify.domain.model import DeliveryChannel, RecipientKind, Template

log = logging.getLogger(__name__)

#: A Message-ID fit to be answered in a header: visible ASCII only (no spaces, no
#: line breaks, nothing a header would have to encode).
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,500}>")


class Sender(Protocol):
    """Sends one message on one channel."""

    #: False: the channel sends the event itself (webhooks), no template is rendered.
    renders: bool

    async def send(
        self, claim: Claim, recipient: Recipient, rendered: Rendered | None
    ) -> int | None:
        """Send it; the far side's status code, if the channel has one."""
        ...


class EmailSender:
    """SMTP: the rendered text and HTML, threaded on the customer's own mail."""

    renders = True

    def __init__(self, settings: Settings, mailer: Mailer, contacts: ContactDirectory) -> None:
        self.settings = settings
        self.mailer = mailer
        self.contacts = contacts

    async def send(self, claim: Claim, recipient: Recipient, rendered: Rendered | None) -> None:
        if rendered is None or recipient.address is None:
            raise DeliveryError("an e-mail needs a rendered message and an address", permanent=True)
        await self.mailer.send(await self.message(claim, recipient, rendered))
        return None

    async def message(
        self, claim: Claim, recipient: Recipient, rendered: Rendered
    ) -> ComposedMail | EmailMessage:
        """The mail, written directly (:mod:`tousu_notify.adapters.mime`); an
        ``EmailMessage`` only for a mailbox that needs SMTPUTF8.

        ``recipient.answers``: the customer's own Message-ID when the complaint came
        by mail — our mail is a reply to it (RFC 5322 In-Reply-To / References)."""
        headers = self._headers(claim, recipient.address or "", recipient.answers, rendered)
        attachments = await self._attachments(claim, recipient)
        composed = compose(headers, text=rendered.text, html=rendered.html, attachments=attachments)
        if composed is not None:
            return composed
        message = EmailMessage()
        for name, value in headers:
            message[name] = value
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        for item in attachments:
            message.add_attachment(item.content, subtype=item.subtype, filename=item.filename)
        return message

    def _headers(
        self, claim: Claim, address: str, answers: str | None, rendered: Rendered
    ) -> list[tuple[str, str]]:
        headers = [
            ("Subject", rendered.subject),
            ("From", self.settings.mail_from),
            ("To", address),
            ("Date", format_datetime(datetime.now(UTC))),
        ]
        if claim.message_id:
            headers.append(("Message-ID", claim.message_id))
        if answers and _MESSAGE_ID.fullmatch(answers):
            headers += [("In-Reply-To", answers), ("References", answers)]
        if claim.recipient_kind == RecipientKind.customer.value:
            headers.append(("Reply-To", self.settings.mail_reply_to))
        if claim.reference:
            headers.append(("X-Tousu-Reference", claim.reference))
        return headers

    async def _attachments(self, claim: Claim, recipient: Recipient) -> list[Attachment]:
        """A digest's HTML report, when the settings attach it and it can be fetched."""
        if claim.template != Template.digest_published.value:
            return []
        if not self.settings.digest_attach_html:
            return []
        context = recipient.context
        try:
            report = await self.contacts.fetch_report(str(context.get("url")))
        except DeliveryError as exc:
            log.warning("digest report not attached", extra={"error": exc.message})
            return []
        return [
            Attachment(
                report.decode("utf-8", errors="replace"),
                "html",
                f"digest-{context.get('period', 'report')}.html",
            )
        ]


class SmsSender:
    """The SMS gateway: the rendered short text, keyed by the delivery for idempotency."""

    renders = True

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    async def send(self, claim: Claim, recipient: Recipient, rendered: Rendered | None) -> int:
        if rendered is None or recipient.address is None:
            raise DeliveryError("an SMS needs a rendered message and a number", permanent=True)
        return await self.gateway.send(
            recipient.address, rendered.sms, idempotency_key=str(claim.id)
        )


class WebhookSender:
    """A signed POST of the CloudEvent the delivery was planned with."""

    renders = False

    def __init__(self, client: WebhookClient) -> None:
        self.client = client

    async def send(self, claim: Claim, recipient: Recipient, rendered: Rendered | None) -> int:
        if not (recipient.address and recipient.secret):
            raise RuntimeError("a webhook delivery without a subscription url and secret")
        body = json.dumps(
            claim.context["cloudevent"], ensure_ascii=False, separators=(",", ":")
        ).encode()
        return await self.client.post(
            recipient.address,
            body,
            secret=recipient.secret,
            delivery_id=str(claim.id),
            event_type=claim.event_type,
        )


def build_senders(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    mailer: Mailer,
    sms: SmsGateway,
    contacts: ContactDirectory,
) -> dict[DeliveryChannel, Sender]:
    """The channel → sender table."""
    return {
        DeliveryChannel.email: EmailSender(settings, mailer, contacts),
        DeliveryChannel.sms: SmsSender(sms),
        DeliveryChannel.webhook: WebhookSender(WebhookClient(settings, http)),
    }


__all__ = ["EmailSender", "Sender", "SmsSender", "WebhookSender", "build_senders"]
