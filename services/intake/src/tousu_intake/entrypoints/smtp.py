"""The inbound SMTP listener (aiosmtpd) for the complaints and key-account mailboxes.

It runs on the service's own event loop (not aiosmtpd's ``Controller``
thread) so it shares the app's database engine. A mail is answered ``250``
only after it is on disk and its outcome committed; a failure answers
``451`` so the sending server retries (the Message-ID dedupe makes the retry
harmless). Recipients other than the two mailboxes are refused with ``550``
at ``RCPT`` time; messages over ``smtp_max_message_bytes`` with ``552``
(advertised as ``SIZE`` in ``EHLO``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from tousu_common.db import Database
from tousu_intake.config import Settings
from tousu_intake.handlers.inbound_mail import MailInFlight, receive_mail

log = logging.getLogger(__name__)


class MailboxHandler:
    """aiosmtpd handler: which recipients we take, and what happens to a message."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.complaints = settings.complaints_mailbox.lower()
        self.key_accounts = settings.key_account_mailbox.lower()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address.strip().lower() not in (self.complaints, self.key_accounts):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if len(raw) > self.settings.smtp_max_message_bytes:
            return "552 5.3.4 Message too big"
        recipients = [address.lower() for address in envelope.rcpt_tos]
        key_account = self.key_accounts in recipients
        try:
            outcome = await receive_mail(
                self.db,
                self.settings,
                raw=raw,
                envelope_from=envelope.mail_from or "",
                recipient=self.key_accounts if key_account else self.complaints,
                key_account=key_account,
            )
        except MailInFlight:
            return "451 4.3.0 The same message is being processed; try again later"
        except Exception:
            log.exception("inbound mail could not be processed; asking the sender to retry")
            return "451 4.3.0 Temporary failure, please try again later"
        if outcome.outcome == "refused":
            return f"554 5.6.0 {outcome.reason}"
        if outcome.reference:
            return f"250 OK {outcome.outcome} {outcome.reference}"
        return f"250 OK {outcome.outcome}"


class MailListener:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.handler = MailboxHandler(db, settings)
        self.settings = settings
        self._server: asyncio.AbstractServer | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    async def start(self) -> None:
        settings = self.settings
        hostname = settings.mail_domain or socket.getfqdn()

        def protocol() -> SMTP:
            session = SMTP(
                self.handler,
                data_size_limit=settings.smtp_max_message_bytes,
                hostname=hostname,
                ident="Tousu intake",
                enable_SMTPUTF8=True,
                timeout=120,
            )
            self._sessions.add(session)
            return session

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            protocol, host=settings.smtp_host, port=settings.smtp_port
        )
        log.info(
            "smtp listener started",
            extra={"host": settings.smtp_host, "port": settings.smtp_port},
        )

    async def stop(self) -> None:
        """Stop listening and hang up on every open session (a peer that connected
        and went quiet would otherwise hold its session until the 120 s timeout);
        closing a session cancels its handler."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        log.info("smtp listener stopped")


def with_mail_listener(app: FastAPI) -> FastAPI:
    """Wrap the app's lifespan: start the listener after the database, stop it first."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            settings: Settings = app.state.settings
            listener = None
            if settings.smtp_port:
                listener = MailListener(app.state.db, settings)
                await listener.start()
            try:
                yield state
            finally:
                if listener is not None:
                    await listener.stop()

    app.router.lifespan_context = lifespan
    return app
