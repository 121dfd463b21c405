"""notify's SMTP client against a real SMTP server: connections kept between
messages, replaced when the server dropped them, closed when unused or spent."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope, Session

from tousu_common.mailsink import MailSink, _Handler
from tousu_common.testing.tls import self_signed
from tousu_common.testing.wait import eventually_async
from tousu_notify.adapters import clients
from tousu_notify.adapters.clients import DeliveryError, Mailer
from tousu_notify.config import Settings


def message(n: int, to: str = "") -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"投诉已受理 {n}"
    mail["From"] = "Tousu <noreply@tousu.test>"
    mail["To"] = to or f"customer-{n}@example.com"
    mail.set_content(f"您的投诉 {n} 已受理。")
    return mail


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def mailer_for(sink: MailSink, jwt_secret: str, **overrides: Any) -> Mailer:
    settings = Settings(
        jwt_secret=jwt_secret,
        environment="test",
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_local_hostname="notify.tousu.test",
        **overrides,
    )
    return Mailer(settings)


@pytest.fixture
async def mailer(sink: MailSink, jwt_secret: str) -> AsyncIterator[Mailer]:
    instance = mailer_for(sink, jwt_secret)
    yield instance
    await instance.close()


async def test_messages_go_out_over_one_kept_connection_and_closing_says_quit(
    sink: MailSink, mailer: Mailer
) -> None:
    for n in range(5):
        await mailer.send(message(n))
    assert [str(m["To"]) for m in sink.messages] == [f"customer-{n}@example.com" for n in range(5)]
    assert len(set(sink.peers)) == 1
    assert mailer.open_connections == 1
    await mailer.close()
    assert mailer.open_connections == 0
    await eventually_async(lambda: asyncio.sleep(0, sink.quits), until=lambda q: q == 1, timeout=10)


async def test_a_batch_sent_side_by_side_uses_no_more_connections_than_the_pool_size(
    sink: MailSink, jwt_secret: str
) -> None:
    mailer = mailer_for(sink, jwt_secret, smtp_pool_size=2)
    try:
        await asyncio.gather(*(mailer.send(message(n)) for n in range(6)))
        first = set(sink.peers)
        assert len(sink.messages) == 6
        assert len(first) <= 2  # six messages, never more than two connections
        assert mailer.open_connections <= 2
        for n in range(6, 10):
            await mailer.send(message(n))
        assert len(sink.messages) == 10
        assert set(sink.peers[6:]) <= first  # the kept ones, no new connection
    finally:
        await mailer.close()


async def test_a_connection_the_server_dropped_while_idle_is_replaced_and_the_mail_goes_out(
    jwt_secret: str,
) -> None:
    sink = MailSink(idle_timeout_s=0.3).start()
    mailer = mailer_for(sink, jwt_secret)
    try:
        await mailer.send(message(1))
        kept = mailer._idle[0].smtp
        await eventually_async(
            lambda: asyncio.sleep(0, kept.is_connected), until=lambda up: not up, timeout=10
        )
        await mailer.send(message(2))
        assert len(sink.messages) == 2
        assert len(set(sink.peers)) == 2
    finally:
        await mailer.close()
        sink.stop()


async def test_a_connection_idle_for_a_while_is_checked_with_noop_and_kept_when_it_answers(
    sink: MailSink, mailer: Mailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients, "_CHECK_AFTER_IDLE_S", 0.0)
    noops = 0
    await mailer.send(message(1))
    kept = mailer._idle[0].smtp
    original = kept.noop

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal noops
        noops += 1
        return await original(*args, **kwargs)

    kept.noop = counted  # type: ignore[method-assign]
    await mailer.send(message(2))
    assert noops == 1
    assert len(set(sink.peers)) == 1


async def test_an_unused_connection_is_closed_after_the_keepalive(
    sink: MailSink, jwt_secret: str
) -> None:
    mailer = mailer_for(sink, jwt_secret, smtp_keepalive_s=0.2)
    try:
        await mailer.send(message(1))
        assert mailer.open_connections == 1
        await eventually_async(
            lambda: asyncio.sleep(0, (mailer.open_connections, sink.quits)),
            until=lambda state: state == (0, 1),
            timeout=10,
        )
    finally:
        await mailer.close()


async def test_a_connection_is_retired_after_its_message_limit(
    sink: MailSink, jwt_secret: str
) -> None:
    mailer = mailer_for(sink, jwt_secret, smtp_messages_per_connection=2)
    try:
        for n in range(5):
            await mailer.send(message(n))
    finally:
        await mailer.close()
    assert len(sink.messages) == 5
    assert [len(set(sink.peers[i : i + 2])) for i in (0, 2)] == [1, 1]
    assert len(set(sink.peers)) == 3
    assert sink.quits == 3


async def test_keepalive_zero_opens_a_connection_per_message(
    sink: MailSink, jwt_secret: str
) -> None:
    mailer = mailer_for(sink, jwt_secret, smtp_keepalive_s=0)
    for n in range(3):
        await mailer.send(message(n))
    assert mailer.open_connections == 0
    assert len(set(sink.peers)) == 3
    assert sink.quits == 3


class _RefusingHandler(_Handler):
    """The sink's handler, refusing recipients whose address starts with ``refuse``."""

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_refused_message_fails_alone_and_the_next_one_still_goes_out(
    jwt_secret: str,
) -> None:
    from aiosmtpd.controller import Controller

    sink = MailSink()
    sink._controller = Controller(_RefusingHandler(sink), hostname="127.0.0.1", port=sink.port)
    sink.start()
    mailer = mailer_for(sink, jwt_secret)
    try:
        await mailer.send(message(1))
        with pytest.raises(DeliveryError) as refused:
            await mailer.send(message(2, to="refuse-me@example.com"))
        assert refused.value.permanent and refused.value.status == 550
        await mailer.send(message(3))
        assert [str(m["To"]) for m in sink.messages] == [
            "customer-1@example.com",
            "customer-3@example.com",
        ]
    finally:
        await mailer.close()
        sink.stop()


async def test_starttls_to_a_server_whose_certificate_the_settings_trust(
    tmp_path: Path, jwt_secret: str
) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    sink = MailSink(tls_context=server_tls).start()
    trusting = mailer_for(sink, jwt_secret, smtp_starttls=True, smtp_ca_file=cert)
    doubting = mailer_for(sink, jwt_secret, smtp_starttls=True)  # the system's CAs only
    try:
        for n in range(3):
            await trusting.send(message(n))
        assert len(sink.messages) == 3 and len(set(sink.peers)) == 1
        with pytest.raises(DeliveryError) as refused:
            await doubting.send(message(4))
        assert not refused.value.permanent  # a certificate can be fixed: retried later
        assert len(sink.messages) == 3
    finally:
        await trusting.close()
        await doubting.close()
        sink.stop()
