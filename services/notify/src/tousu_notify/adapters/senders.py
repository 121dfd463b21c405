"""One sender per channel behind one interface, and :func:`build_senders`, the table
the delivery worker picks from. A new channel is a new :class:`Sender` and one
entry in that table.

A sender gets the claimed delivery, its resolved recipient and, for channels
that send a template, the rendered message; it returns the far side's status
code (if it has one) or raises :class:`DeliveryError`.
"""

from __future__ import annotations

import email.policy
import json
import logging
import re
from datetime import UTC, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
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
from tousu_notify.adapters.templates import Rendered
from tousu_notify.config import Settings
from tousu_notify.domain.delivery import Claim, Recipient
from tousu_notify.domain.model import DeliveryChannel, RecipientKind, Template

log = logging.getLogger(__name__)

#: A Message-ID fit to be answered in a header: visible ASCII only (no spaces, no
#: line breaks, nothing a header would have to encode).
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,500}>")


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, making each header class once.

    ``HeaderRegistry`` builds a new class with ``type()`` for every header it
    parses — a message's dozen headers, its parts' and their parameters — which
    was a sixth of building a mail. The classes it builds for one name are all
    alike, so one per name gives the same headers."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


#: ``email.policy.default`` (what ``EmailMessage()`` uses) with that registry.
_POLICY = email.policy.default.clone(header_factory=_HeaderClasses())


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
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def _configured(self, name: str, value: str) -> BaseHeader | str:
        """A header whose value comes from the settings (From, Reply-To), parsed once:
        an address header's parse is the costliest part of a header, and the same
        object serves every message (header objects are immutable). Checked as
        ``message[name] = value`` checks it, so a bad setting fails each message as
        before."""
        parsed = self._parsed.get((name, value))
        if parsed is None:
            _, parsed = _POLICY.header_store_parse(name, value)
            self._parsed[(name, value)] = parsed
        return parsed

    async def send(self, claim: Claim, recipient: Recipient, rendered: Rendered | None) -> None:
        if rendered is None or recipient.address is None:
            raise DeliveryError("an e-mail needs a rendered message and an address", permanent=True)
        message = await self.message(claim, recipient, rendered)
        await self.mailer.send(message)
        return None

    async def message(self, claim: Claim, recipient: Recipient, rendered: Rendered) -> EmailMessage:
        """``recipient.answers``: the customer's own Message-ID when the complaint came
        by mail — our mail is a reply to it (RFC 5322 In-Reply-To / References)."""
        answers = recipient.answers
        message = EmailMessage(policy=_POLICY)
        message["Subject"] = rendered.subject
        message["From"] = self._configured("From", self.settings.mail_from)
        message["To"] = recipient.address
        message["Date"] = format_datetime(datetime.now(UTC))
        if claim.message_id:
            message["Message-ID"] = claim.message_id
        if answers and _MESSAGE_ID.fullmatch(answers):
            message["In-Reply-To"] = answers
            message["References"] = answers
        if claim.recipient_kind == RecipientKind.customer.value:
            message["Reply-To"] = self._configured("Reply-To", self.settings.mail_reply_to)
        if claim.reference:
            message["X-Tousu-Reference"] = claim.reference
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        if claim.template == Template.digest_published.value and self.settings.digest_attach_html:
            context = recipient.context
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
