"""A real SMTP server that keeps every message it receives.

``tousu run`` points notify's outbound mail at one (the messages land as
``.eml`` files under ``var/mail/``, like MailHog), and the tests read back what
notify really sent over SMTP. Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        self.sink.keep(
            raw,
            list(envelope.rcpt_tos),
            envelope.mail_from or "",
            session.host_name or "",
            peer=str(session.peer),
        )
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self.sink._lock:
            self.sink.quits += 1
        return "221 Bye"


class MailSink:
    def __init__(
        self,
        port: int = 0,
        directory: Path | None = None,
        *,
        idle_timeout_s: float = 300,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``idle_timeout_s``: the server drops a connection idle this long (RFC 5321
        asks for at least 5 minutes; tests shorten it to see a client cope).
        ``tls_context``: the server requires STARTTLS with this certificate."""
        from tousu_common.devstack import free_port

        self.port = port or free_port()
        self.directory = directory
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        #: The EHLO/HELO name each message's client gave, in arrival order.
        self.greetings: list[str] = []
        #: The client's address and port each message came from: one per connection.
        self.peers: list[str] = []
        #: Connections the client ended with QUIT.
        self.quits = 0
        self._lock = threading.Lock()
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            timeout=idle_timeout_s,
            tls_context=tls_context,
            require_starttls=tls_context is not None,
        )

    def start(self) -> MailSink:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def keep(
        self, raw: bytes, recipients: list[str], sender: str, greeting: str = "", peer: str = ""
    ) -> None:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((sender, recipients))
            self.greetings.append(greeting)
            self.peers.append(peer)
            count = len(self.messages)
        if self.directory is not None:
            (self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{count:05d}.eml").write_bytes(raw)

    def wait_for(
        self, predicate: Callable[[EmailMessage], bool], *, timeout: float = 30, count: int = 1
    ) -> list[EmailMessage]:
        """Messages matching ``predicate`` once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [m for m in self.messages if predicate(m)]
            if len(found) >= count or time.monotonic() > deadline:
                if len(found) < count:
                    raise AssertionError(
                        f"expected {count} matching message(s) within {timeout}s, got {len(found)}"
                    )
                return found
            time.sleep(0.05)
